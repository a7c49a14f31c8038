import { GiraffeError } from '../../errors';
import type { LoadedModel } from '../model';
import { vaeOutputToRgb } from '../image';

/**
 * A decoded image with a NaN or infinite value fails the job: clamped to
 * 0–255 it would come out black (or flat) and pass for a success. The usual
 * cause is SDXL's VAE overflowing float16.
 */
function checkDecoded(data: Float32Array, precision: 'float32' | 'float16'): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v === 0) continue;
    const what = Number.isNaN(v) ? 'NaN' : 'infinite';
    const hint =
      precision === 'float16'
        ? ' The VAE decoder runs in float16, where the SDXL VAE overflows: export vae_decoder in float32, ' +
          'or use the fp16-fix VAE (madebyollin/sdxl-vae-fp16-fix).'
        : '';
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_OUTPUT_INVALID',
      `vae_decoder/model.onnx returned ${what} values: the image would be black, so the job fails.${hint}`,
      { component: 'vae_decoder', precision },
    );
  }
}

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
    checkDecoded(image.data, contract.vaeDecoder.precision);
    [, , height, width] = image.dims;
    rgb.push(...vaeOutputToRgb(image.data, 1, height, width));
  }
  return { rgb, width, height };
}
