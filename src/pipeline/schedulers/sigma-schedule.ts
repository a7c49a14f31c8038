import { f32, interpAtIndex, linspace } from './numeric';
import { trainingSigmas } from './noise-schedule';
import { spacedTimesteps, type SpacingInput } from './timestep-spacing';

/**
 * Karras et al. (2022, arXiv:2206.00364 eq. 5) noise levels with ρ = 7:
 * σ_max to σ_min evenly spaced in σ^(1/ρ), in float64 as diffusers builds them.
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, count: number): Float64Array {
  const rho = 7;
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return linspace(0, 1, count).map((ramp) => (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho);
}

/**
 * The fractional training timestep whose sigma is `sigma`, interpolating
 * linearly in log σ (diffusers' `_sigma_to_t`). The goldens come from numpy
 * 1.24, whose value-based casting does this arithmetic in float32 because
 * `logSigmas` is a float32 array; the final blend is float64.
 */
export function sigmaToTimestep(sigma: number, logSigmas: Float32Array): number {
  const logSigma = f32(Math.log(Math.max(sigma, 1e-10)));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma >= logSigmas[i]) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  const w = Math.min(Math.max(f32(f32(lo - logSigma) / f32(lo - hi)), 0), 1);
  return f32(1 - w) * low + w * (low + 1);
}

/** Timesteps and sigmas of an Euler-family schedule. */
export interface SigmaSchedule {
  readonly timesteps: Float32Array;
  /** One sigma per timestep plus the final one. */
  readonly sigmas: Float32Array;
}

/** What the Euler family needs beyond the spacing rule. */
export interface EulerSigmaOptions {
  readonly karras: boolean;
  readonly sigmaMin: number | null;
  readonly sigmaMax: number | null;
  readonly finalSigmasType: 'zero' | 'sigma_min';
}

/**
 * EulerDiscreteScheduler's `set_timesteps` (EulerAncestral is the same without
 * Karras): sigmas interpolated at the spaced timesteps; with Karras, new
 * sigmas between the end points and timesteps mapped back from them.
 */
export function eulerSigmaSchedule(
  alphasCumprod: Float32Array,
  spacing: SpacingInput,
  options: EulerSigmaOptions,
): SigmaSchedule {
  const training = trainingSigmas(alphasCumprod);
  let timesteps: Float64Array = spacedTimesteps(spacing, true);
  let sigmas: Float64Array = timesteps.map((t) => interpAtIndex(t, training));
  if (options.karras) {
    const sigmaMin = options.sigmaMin ?? sigmas[sigmas.length - 1];
    const sigmaMax = options.sigmaMax ?? sigmas[0];
    sigmas = karrasSigmas(sigmaMin, sigmaMax, sigmas.length);
    // float32 like np.log of diffusers' float32 sigma array
    const logs = training.map(Math.log);
    timesteps = sigmas.map((s) => sigmaToTimestep(s, logs));
  }
  const last = options.finalSigmasType === 'sigma_min' ? training[0] : 0;
  return { timesteps: Float32Array.from(timesteps), sigmas: Float32Array.from([...sigmas, last]) };
}

/**
 * Euler's `init_noise_sigma`: √(σ_max² + 1), the spread of x₀ + σ·ε for
 * unit-variance x₀, with leading spacing; σ_max itself with linspace and
 * trailing. That split is diffusers' choice; float32 arithmetic as there.
 */
export function eulerInitNoiseSigma(sigmas: Float32Array, leading: boolean): number {
  const max = sigmas.reduce((m, s) => Math.max(m, s), 0);
  return leading ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
}
