import { f32 } from './numeric';

/**
 * The `timestep_cond` input of LCM-distilled U-Nets: a sinusoidal embedding of
 * the guidance scale, baked into the model instead of running CFG. diffusers'
 * `LatentConsistencyModelPipeline.get_guidance_scale_embedding` for one
 * prompt: w = (guidance − 1)·1000, frequencies exp(−ln(10000)·i/(half − 1)),
 * then sin(w·f) ‖ cos(w·f), zero-padded to `dim` when it is odd. float32 as
 * in torch (sin and cos rounded from float64).
 *
 * @param guidanceScale - the request's guidance scale (LCM models expect about 1–2; 8.5 was the distillation default)
 * @param dim - the U-Net's `time_cond_proj_dim` (256 for LCM-SD1.5 and LCM-SDXL)
 */
export function lcmGuidanceEmbedding(guidanceScale: number, dim: number): Float32Array {
  if (!Number.isFinite(guidanceScale))
    throw new RangeError(`guidance scale must be finite (got ${guidanceScale})`);
  // half − 1 is a divisor, so fewer than 4 dimensions would divide by zero.
  if (!Number.isInteger(dim) || dim < 4)
    throw new RangeError(`embedding dim must be an integer ≥ 4 (got ${dim})`);
  const w = f32(f32(guidanceScale - 1) * 1000);
  const half = Math.floor(dim / 2);
  const rate = f32(f32(Math.log(10000)) / (half - 1));
  const out = new Float32Array(dim);
  for (let i = 0; i < half; i++) {
    const angle = f32(w * f32(Math.exp(f32(i * -rate))));
    out[i] = Math.sin(angle);
    out[half + i] = Math.cos(angle);
  }
  return out;
}
