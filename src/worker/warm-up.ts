import { performance } from 'node:perf_hooks';
import { GiraffeError } from '../errors';
import type { Pipeline } from '../pipeline';

/**
 * One throw-away generation at the model's default size and guidance, made
 * before a GPU worker announces itself. It proves the device runs the whole
 * model (an adapter that answers can still fail a kernel), and it pays the
 * one-off costs on a GPU — WebGPU compiles a shader for every kernel and
 * shape on its first run (15–30 s per model on a software GPU) — before the
 * first user's job, not during it. The worker's heartbeat, and so `/readyz`,
 * comes only after it. Returns the milliseconds it took.
 */
export async function warmUp(pipeline: Pipeline, device: string): Promise<number> {
  const { defaults, id } = pipeline.info;
  const started = performance.now();
  try {
    await pipeline.generate({
      prompt: 'warm-up',
      seed: 0,
      steps: 1,
      width: defaults.width,
      height: defaults.height,
      guidance_scale: defaults.guidance_scale,
      scheduler: defaults.scheduler,
    });
  } catch (err) {
    if (err instanceof GiraffeError && err.code !== 'GIRAFFE_ERR_GENERATION_FAILED') throw err;
    throw new GiraffeError(
      'GIRAFFE_ERR_DEVICE_UNAVAILABLE',
      `${id}: the warm-up generation on ${device} failed: ${(err as Error).message}`,
      { device, model: id },
      { cause: err },
    );
  }
  return performance.now() - started;
}
