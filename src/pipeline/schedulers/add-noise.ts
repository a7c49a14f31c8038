import { f32 } from './numeric';
import { indexForTimestep } from './step-support';

/**
 * The `add_noise` of each diffusers scheduler family, in float32 and in
 * diffusers' order of operations: how image-to-image pushes clean latents
 * to a timestep's noise level, and how 4-channel inpainting re-noises the
 * kept region after every step.
 */

function checkSizes(what: string, original: Float32Array, noise: Float32Array): void {
  if (original.length !== noise.length) {
    throw new RangeError(`${what}: ${original.length} latents but ${noise.length} noise values`);
  }
}

/**
 * DDIM, PNDM, LCM (DDPM's forward process): √ᾱ_t·x₀ + √(1−ᾱ_t)·ε, with ᾱ
 * indexed by the integer training timestep.
 */
export function addNoiseByAlpha(
  alphasCumprod: Float32Array,
  original: Float32Array,
  noise: Float32Array,
  timestep: number,
): Float32Array {
  checkSizes('add_noise', original, noise);
  const t = Math.trunc(timestep);
  if (!(t >= 0 && t < alphasCumprod.length))
    throw new RangeError(`add_noise: timestep ${timestep} out of range`);
  const ac = alphasCumprod[t];
  const a = f32(Math.sqrt(ac));
  const b = f32(Math.sqrt(f32(1 - ac)));
  return mix(original, noise, a, b);
}

/** The sigma of `timestep` in a sigma scheduler's schedule, found as diffusers' `index_for_timestep` does. */
export function sigmaForTimestep(timesteps: Float32Array, sigmas: Float32Array, timestep: number): number {
  const index = indexForTimestep(timesteps, timestep);
  if (index < 0) throw new RangeError(`add_noise: timestep ${timestep} is not in the schedule`);
  return sigmas[index];
}

/** Euler, Euler a (variance-exploding latents): x₀ + ε·σ. */
export function addNoiseBySigma(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  checkSizes('add_noise', original, noise);
  return mix(original, noise, 1, f32(sigma));
}

/** DPM-Solver (variance-preserving latents): α_t·x₀ + σ_t·ε with α_t = 1/√(σ²+1), σ_t = σ·α_t. */
export function addNoiseBySigmaVp(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  checkSizes('add_noise', original, noise);
  const alphaT = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alphaT);
  return mix(original, noise, alphaT, sigmaT);
}

function mix(original: Float32Array, noise: Float32Array, a: number, b: number): Float32Array {
  const n = original.length;
  const out = new Float32Array(n);
  if (a === 1) {
    for (let i = 0; i < n; i++) out[i] = original[i] + f32(noise[i] * b);
  } else {
    for (let i = 0; i < n; i++) out[i] = f32(a * original[i]) + f32(b * noise[i]);
  }
  return out;
}
