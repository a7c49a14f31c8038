import { f32 } from './numeric';
import type { PredictionType } from './types';

/**
 * Conversions of a model output for the schedulers parameterised by ᾱ_t
 * (x_t = √ᾱ·x₀ + √(1−ᾱ)·ε): DDIM, PNDM, LCM. float32 throughout, in
 * diffusers' order of operations.
 */
interface Roots {
  readonly sqrtAlpha: number;
  readonly sqrtBeta: number;
}

function roots(alphaProd: number): Roots {
  return { sqrtAlpha: f32(Math.sqrt(alphaProd)), sqrtBeta: f32(Math.sqrt(f32(1 - alphaProd))) };
}

/** The predicted clean sample x₀ at a timestep with cumulative alpha `alphaProd`. */
export function predictX0(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaProd: number,
): Float32Array {
  const { sqrtAlpha, sqrtBeta } = roots(alphaProd);
  if (prediction === 'epsilon')
    return sample.map((x, i) => f32(x - f32(sqrtBeta * modelOutput[i])) / sqrtAlpha);
  if (prediction === 'sample') return modelOutput.slice();
  // v = √ᾱ·ε − √(1−ᾱ)·x₀ (Salimans & Ho 2022), so x₀ = √ᾱ·x − √(1−ᾱ)·v.
  return sample.map((x, i) => f32(sqrtAlpha * x) - f32(sqrtBeta * modelOutput[i]));
}

/** The predicted noise ε; `x0` is the (unclipped) prediction from {@link predictX0}. */
export function predictEpsilon(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  x0: Float32Array,
  alphaProd: number,
): Float32Array {
  const { sqrtAlpha, sqrtBeta } = roots(alphaProd);
  if (prediction === 'epsilon') return modelOutput;
  if (prediction === 'sample') return sample.map((x, i) => f32(x - f32(sqrtAlpha * x0[i])) / sqrtBeta);
  return sample.map((x, i) => f32(sqrtAlpha * modelOutput[i]) + f32(sqrtBeta * x));
}

/** Clamps in place to ±range (diffusers' `clip_sample`). */
export function clampInPlace(values: Float32Array, range: number): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = Math.min(Math.max(values[i], -range), range);
  return values;
}
