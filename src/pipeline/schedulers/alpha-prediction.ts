import { f32 } from './numeric';
import type { PredictionType } from './types';

/**
 * Conversions of a model output for the schedulers parameterised by ᾱ_t
 * (x_t = √ᾱ·x₀ + √(1−ᾱ)·ε): DDIM, PNDM, LCM. float32 throughout, in
 * diffusers' order of operations. The per-element loops are small exported
 * functions: V8 optimises each as a whole, where a loop inside a scheduler
 * method would be entered by on-stack replacement and deoptimise at the first
 * statement after it, on every step.
 */
interface Roots {
  readonly sqrtAlpha: number;
  readonly sqrtBeta: number;
}

function roots(alphaProd: number): Roots {
  return { sqrtAlpha: f32(Math.sqrt(alphaProd)), sqrtBeta: f32(Math.sqrt(f32(1 - alphaProd))) };
}

/** x₀ = (x − √(1−ᾱ)·ε)/√ᾱ per element, for x_t = α·x₀ + σ·ε with α = `sqrtAlpha`, σ = `sqrtBeta`. */
export function epsilonToX0(
  modelOutput: Float32Array,
  sample: Float32Array,
  sqrtAlpha: number,
  sqrtBeta: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(sample[i] - f32(sqrtBeta * modelOutput[i])) / sqrtAlpha;
  return out;
}

/** x₀ = √ᾱ·x − √(1−ᾱ)·v per element (v = √ᾱ·ε − √(1−ᾱ)·x₀, Salimans & Ho 2022). */
export function vToX0(
  modelOutput: Float32Array,
  sample: Float32Array,
  sqrtAlpha: number,
  sqrtBeta: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(sqrtAlpha * sample[i]) - f32(sqrtBeta * modelOutput[i]);
  return out;
}

/** The predicted clean sample x₀ at a timestep with cumulative alpha `alphaProd`. */
export function predictX0(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaProd: number,
): Float32Array {
  if (prediction === 'sample') return modelOutput.slice();
  const { sqrtAlpha, sqrtBeta } = roots(alphaProd);
  return prediction === 'epsilon'
    ? epsilonToX0(modelOutput, sample, sqrtAlpha, sqrtBeta)
    : vToX0(modelOutput, sample, sqrtAlpha, sqrtBeta);
}

/** The predicted noise ε; `x0` is the (unclipped) prediction from {@link predictX0}. */
export function predictEpsilon(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  x0: Float32Array,
  alphaProd: number,
): Float32Array {
  if (prediction === 'epsilon') return modelOutput;
  const { sqrtAlpha, sqrtBeta } = roots(alphaProd);
  if (prediction === 'sample') return epsilonFromX0(sample, x0, sqrtAlpha, sqrtBeta);
  return combine(sqrtAlpha, modelOutput, sqrtBeta, sample);
}

/** ε = (x − √ᾱ·x₀)/√(1−ᾱ) per element. */
function epsilonFromX0(
  sample: Float32Array,
  x0: Float32Array,
  sqrtAlpha: number,
  sqrtBeta: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(sample[i] - f32(sqrtAlpha * x0[i])) / sqrtBeta;
  return out;
}

/** a·x + b·y per element, each product rounded to float32 (and the sum, by the store). */
export function combine(a: number, x: Float32Array, b: number, y: Float32Array): Float32Array {
  const n = x.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(a * x[i]) + f32(b * y[i]);
  return out;
}

/** Clamps in place to ±range (diffusers' `clip_sample`). */
export function clampInPlace(values: Float32Array, range: number): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = Math.min(Math.max(values[i], -range), range);
  return values;
}
