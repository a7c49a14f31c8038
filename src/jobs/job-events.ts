import type { JobError, JobProgress, JobResult } from './job-record';

/** Predicted clean latents x₀ of a step, for previews (float32, C order). */
export interface StepLatents {
  readonly shape: readonly [number, number, number, number];
  readonly data: Float32Array;
}

/**
 * What happens to a job, in order. Every job ends with exactly one of
 * succeeded, failed or canceled; a retried attempt shows as `queued` again.
 */
export type JobEventBody =
  | { readonly type: 'queued'; readonly position?: number }
  | { readonly type: 'started'; readonly worker: string; readonly attempt: number }
  | ({ readonly type: 'progress'; readonly latents?: StepLatents } & JobProgress)
  | { readonly type: 'succeeded'; readonly result: JobResult }
  | { readonly type: 'failed'; readonly error: JobError }
  | { readonly type: 'canceled' };

export type JobEvent = JobEventBody & {
  readonly job_id: string;
  /** ISO time the event was published. */
  readonly at: string;
};

export type JobEventType = JobEventBody['type'];
export const finalEventTypes: ReadonlySet<JobEventType> = new Set(['succeeded', 'failed', 'canceled']);
