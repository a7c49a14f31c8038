import type { NumpyRandomState } from '../random';

/**
 * Initial noise exactly as diffusers' ONNX pipeline draws it:
 * `RandomState(seed).randn(B, C, H/8, W/8)` in float64, cast to float32, times
 * `init_noise_sigma` (numpy multiplies in float32 after casting the scalar).
 */
export function prepareLatents(rng: NumpyRandomState, count: number, initNoiseSigma: number): Float32Array {
  const latents = rng.randnFloat32(count);
  if (initNoiseSigma !== 1) {
    const sigma = Math.fround(initNoiseSigma);
    for (let i = 0; i < latents.length; i++) latents[i] = latents[i] * sigma;
  }
  return latents;
}
