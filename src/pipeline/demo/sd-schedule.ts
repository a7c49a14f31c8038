/** Stable Diffusion 1.5's training noise schedule, as its `scheduler_config.json` states it. */
export const SD15_SCHEDULE = {
  betaStart: 0.00085,
  betaEnd: 0.012,
  trainSteps: 1000,
} as const;

/**
 * σ(t) = √((1 − ᾱ_t)/ᾱ_t) for t = 0…999 of the "scaled_linear" schedule:
 * β = linspace(√β₀, √β₁, T)², ᾱ = cumprod(1 − β). Computed in float64 like numpy.
 */
export function sd15Sigmas(): Float64Array {
  const { betaStart, betaEnd, trainSteps } = SD15_SCHEDULE;
  const a = Math.sqrt(betaStart);
  const b = Math.sqrt(betaEnd);
  const sigmas = new Float64Array(trainSteps);
  let alphaBar = 1;
  for (let t = 0; t < trainSteps; t++) {
    const root = t === trainSteps - 1 ? b : a + ((b - a) * t) / (trainSteps - 1);
    alphaBar *= 1 - root * root;
    sigmas[t] = Math.sqrt((1 - alphaBar) / alphaBar);
  }
  return sigmas;
}
