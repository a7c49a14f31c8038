import { f32 } from './numeric';
import type { PredictionType } from './types';

/**
 * The data prediction x₀ of the sigma schedulers (Euler, Euler a), whose
 * latents are x = x₀ + σ·ε; float32 in diffusers' order of operations.
 */
export function sigmaPredictX0(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
): Float32Array {
  if (prediction === 'sample') return modelOutput.slice();
  if (prediction === 'epsilon') return sample.map((x, i) => x - f32(sigma * modelOutput[i]));
  // v-prediction: x₀ = −σ/√(σ²+1)·v + x/(σ²+1)
  const variance = f32(f32(sigma * sigma) + 1);
  const vScale = f32(-sigma / f32(Math.sqrt(variance)));
  return sample.map((x, i) => f32(modelOutput[i] * vScale) + f32(x / variance));
}

/** Divides the latents by √(σ² + 1) so the U-Net sees unit-variance input. */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
  return sample.map((x) => x / denom);
}
