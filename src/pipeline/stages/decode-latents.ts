import type { LoadedModel } from '../model';

/** The VAE decoder's output for each image: NCHW `[1, 3, height, width]` floats in about [−1, 1]. */
export interface DecodedPixels {
  readonly pixels: Float32Array[];
  readonly width: number;
  readonly height: number;
  /** The VAE decoder's precision, for the message when its output is not finite. */
  readonly precision: 'float32' | 'float16';
}

/**
 * Decodes latents [B, C, h, w] with the VAE. Latents are divided by the VAE
 * scaling factor from the model's config; images are decoded one at a time,
 * as diffusers does, which also bounds the VAE's peak memory. Turning the
 * output into bytes is left to {@link finishImages}, off the device's thread.
 */
export async function decodeLatents(
  model: LoadedModel,
  latents: Float32Array,
  batch: number,
  latentHeight: number,
  latentWidth: number,
): Promise<DecodedPixels> {
  const { vaeDecoder, contract, directory } = model;
  const inverse = Math.fround(1 / directory.vaeScalingFactor);
  const per = latents.length / batch;
  const channels = per / (latentHeight * latentWidth);
  const pixels: Float32Array[] = [];
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
    pixels.push(image.data);
  }
  return { pixels, width, height, precision: contract.vaeDecoder.precision };
}
