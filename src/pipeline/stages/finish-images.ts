import { performance } from 'node:perf_hooks';
import { GiraffeError } from '../../errors';
import { encodeImage, formatA1111Parameters, vaeOutputToRgb } from '../image';
import type { GenerateResult, RenderedGeneration } from '../generation-result';

/** Milliseconds since the Unix epoch, comparable across threads (each thread's `performance.now()` has its own origin). */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

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
 * The part of a generation that needs no device: checks the VAE's output,
 * turns it into 8-bit RGB and encodes it in the request's format (a PNG
 * carries the infotext). The threaded pipeline runs it on the main thread,
 * so the inference thread starts the next job's `session.run` calls at once.
 */
export async function finishImages(rendered: RenderedGeneration): Promise<GenerateResult> {
  const { decoded, request: r } = rendered;
  const t0 = performance.now();
  const parameters = formatA1111Parameters({ ...r, model: rendered.model, device: rendered.device });
  const encoding: Promise<Buffer>[] = [];
  for (const [i, pixels] of decoded.pixels.entries()) {
    // Between images the event loop gets a turn (the main thread serves requests); sharp encodes
    // each image on its own threads while the next one is converted.
    if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    checkDecoded(pixels, decoded.precision);
    const [rgb] = vaeOutputToRgb(pixels, 1, decoded.height, decoded.width);
    const encoded = encodeImage(
      rgb,
      decoded.width,
      decoded.height,
      r.output_format,
      r.output_format === 'png' ? { parameters } : {},
    );
    encoded.catch(() => undefined); // Awaited below; a later image's failure must not leave it unhandled.
    encoding.push(encoded);
  }
  const images = await Promise.all(encoding);
  return {
    images,
    seed: r.seed,
    width: decoded.width,
    height: decoded.height,
    request: r,
    parameters,
    timings: {
      ...rendered.timings,
      total_ms: wallClockMs() - rendered.startedAt,
      image_encode_ms: performance.now() - t0,
    },
    resumed_from_step: rendered.resumed_from_step,
  };
}
