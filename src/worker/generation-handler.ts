import type { JobRecord, JobResult } from '../jobs';
import type { JobContext, JobHandler, ResultStore } from '../queue';
import type { PipelinePool } from './pipeline-pool';

const contentTypes = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

/**
 * Runs a job on a loaded model: generates with the job's resolved request
 * (seed included, so a retry on another worker makes the same bytes), reports
 * every step with its predicted x₀ for previews, stores the images, and
 * returns the result the queue records.
 */
export function createGenerationHandler(
  pools: ReadonlyMap<string, PipelinePool>,
  results: ResultStore,
): JobHandler {
  return async (job: JobRecord, context: JobContext): Promise<JobResult> => {
    const pool = pools.get(job.model);
    if (!pool) throw new Error(`this worker has no model "${job.model}"`);
    return pool.use(async (pipeline) => {
      const started = performance.now();
      let pending: Promise<void> = Promise.resolve();
      const output = await pipeline.generate(job.request, {
        signal: context.signal,
        onStep: (p) => {
          const elapsed = performance.now() - started;
          const eta = (elapsed / p.step) * (p.steps - p.step);
          // Progress goes out in step order; a slow bus never blocks the denoising thread.
          pending = pending
            .then(() =>
              context.progress(
                { step: p.step, steps: p.steps, elapsed_ms: Math.round(elapsed), eta_ms: Math.round(eta) },
                { shape: p.shape, data: p.predictedOriginal },
              ),
            )
            .catch(() => undefined);
        },
      });
      await pending;
      const contentType = contentTypes[output.request.output_format];
      await Promise.all(
        output.images.map((data, index) => results.put(job.id, index, { data, content_type: contentType })),
      );
      return {
        images: output.images.map((data, index) => ({
          index,
          content_type: contentType,
          bytes: data.length,
        })),
        seed: output.seed,
        width: output.width,
        height: output.height,
        parameters: output.parameters,
        timings: { ...output.timings },
      };
    });
  };
}
