import { GiraffeError } from '../../errors';
import type { DecodedPixels } from '../image/decode-input-image';
import type { LoadedModel } from '../model';

/**
 * How 8-bit pixels become the VAE encoder's [-1, 1] input, each in its
 * diffusers pipeline's float32 order of operations: image-to-image's
 * `2·(u8/255) − 1`, inpainting's `u8/127.5 − 1`.
 */
export type PixelScaling = 'img2img' | 'inpaint';

/**
 * RGB pixels [H, W, 3] as a [1, 3, H, W] float32 tensor in [-1, 1]. With
 * `keep`, pixels whose mask luminance is ≥ 127.5 become 0 (the inpainting
 * pipeline's masked image: `image · (mask < 127.5)`).
 */
export function pixelsToTensor(
  rgb: DecodedPixels,
  scaling: PixelScaling,
  keep?: DecodedPixels,
): Float32Array {
  const f32 = Math.fround;
  const n = rgb.width * rgb.height;
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < n; p++) {
      const u = rgb.data[3 * p + c];
      let v = scaling === 'img2img' ? f32(f32(2 * f32(u / 255)) - 1) : f32(f32(u / 127.5) - 1);
      if (keep && keep.data[p] >= 127.5) v = 0;
      out[c * n + p] = v;
    }
  }
  return out;
}

/**
 * Encodes one [1, 3, H, W] image to latents [1, C, H/8, W/8] multiplied by
 * the VAE scaling factor of the model's config (0.18215 for SD 1.x/2.x).
 * An optimum export's `latent_parameters` (mean ‖ logvar) gives its mean.
 */
export async function encodeImageLatents(
  model: LoadedModel,
  tensor: Float32Array,
  height: number,
  width: number,
): Promise<Float32Array> {
  const { vaeEncoder, contract, directory } = model;
  const encoder = contract.vaeEncoder;
  if (!vaeEncoder || !encoder) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED',
      `model "${directory.id}" has no vae_encoder: it cannot take an input image`,
      { field: 'image', model: directory.id },
    );
  }
  const out = await vaeEncoder.run({ [encoder.input]: { data: tensor, dims: [1, 3, height, width] } }, [
    encoder.output,
  ]);
  const result = out[encoder.output];
  const [, channels, h, w] = result.dims;
  const latentChannels = encoder.layout === 'parameters' ? channels / 2 : channels;
  if (h !== height / 8 || w !== width / 8 || latentChannels !== contract.unet.latentChannels) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_OUTPUT_INVALID',
      `vae_encoder output "${encoder.output}" is [${result.dims.join(', ')}], expected [1, ${encoder.layout === 'parameters' ? 2 * contract.unet.latentChannels : contract.unet.latentChannels}, ${height / 8}, ${width / 8}]`,
    );
  }
  const count = latentChannels * h * w;
  const factor = Math.fround(directory.vaeScalingFactor);
  const latents = new Float32Array(count);
  // The mean is the first half of the channel axis.
  let finite = true;
  for (let i = 0; i < count; i++) {
    const v = Math.fround(factor * result.data[i]);
    finite &&= Number.isFinite(v);
    latents[i] = v;
  }
  if (!finite)
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_OUTPUT_INVALID',
      'vae_encoder output contains NaN or infinite values',
    );
  return latents;
}
