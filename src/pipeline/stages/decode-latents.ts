import type { LoadedModel } from '../model';
import { vaeOutputToRgb } from '../image';

/**
 * Decodes latents [B, C, h, w] to 8-bit RGB images. Latents are divided by the
 * VAE scaling factor from the model's config; images are decoded one at a
 * time, as diffusers does, which also bounds the VAE's peak memory.
 */
export async function decodeLatents(
  model: LoadedModel,
  latents: Float32Array,
  batch: number,
  latentHeight: number,
  latentWidth: number,
): Promise<{ rgb: Uint8Array[]; width: number; height: number }> {
  const { vaeDecoder, contract, directory } = model;
  const inverse = Math.fround(1 / directory.vaeScalingFactor);
  const per = latents.length / batch;
  const channels = per / (latentHeight * latentWidth);
  const rgb: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  for (let b = 0; b < batch; b++) {
    const scaled = new Float32Array(per);
    for (let i = 0; i < per; i++) scaled[i] = latents[b * per + i] * inverse;
    const out = await vaeDecoder.run(
      { [contract.vaeDecoder.input]: { data: scaled, dims: [1, channels, latentHeight, latentWidth] } },
      [contract.vaeDecoder.output],
    );
    const image = out[contract.vaeDecoder.output];
    [, , height, width] = image.dims;
    rgb.push(...vaeOutputToRgb(image.data, 1, height, width));
  }
  return { rgb, width, height };
}
