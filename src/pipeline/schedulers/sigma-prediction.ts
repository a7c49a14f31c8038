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
  const n = sample.length;
  const out = new Float32Array(n);
  if (prediction === 'epsilon') {
    for (let i = 0; i < n; i++) out[i] = sample[i] - f32(sigma * modelOutput[i]);
    return out;
  }
  // v-prediction: x₀ = −σ/√(σ²+1)·v + x/(σ²+1)
  const variance = f32(f32(sigma * sigma) + 1);
  const vScale = f32(-sigma / f32(Math.sqrt(variance)));
  for (let i = 0; i < n; i++) out[i] = f32(modelOutput[i] * vScale) + f32(sample[i] / variance);
  return out;
}

/** Divides the latents by √(σ² + 1) so the U-Net sees unit-variance input. */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sample[i] / denom;
  return out;
}
