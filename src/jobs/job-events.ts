import type { JobError, JobProgress, JobResult } from './job-record';

/**
 * What happens to a job, in order. Every job ends with exactly one of
 * succeeded, failed or canceled; a retried attempt shows as `queued` again.
 */
export type JobEventBody =
  | { readonly type: 'queued'; readonly position?: number }
  | { readonly type: 'started'; readonly worker: string; readonly attempt: number }
  | ({ readonly type: 'progress' } & JobProgress)
  | { readonly type: 'succeeded'; readonly result: JobResult }
  | { readonly type: 'failed'; readonly error: JobError }
  | { readonly type: 'canceled' };

/** An event as its publisher makes it, before the event bus numbers it. */
export type JobEventDraft = JobEventBody & {
  readonly job_id: string;
  /** ISO time the event was published. */
  readonly at: string;
};

/**
 * An event as subscribers receive it. `seq` counts the job's events from 1,
 * with no gaps: a stream client that saw `seq` N asks for what came after N.
 */
export type JobEvent = JobEventDraft & { readonly seq: number };

export type JobEventType = JobEventBody['type'];
export const finalEventTypes: ReadonlySet<JobEventType> = new Set(['succeeded', 'failed', 'canceled']);

/** Predicted clean latents x₀ of a step, for previews (float32, C order). */
export interface StepLatents {
  readonly shape: readonly [number, number, number, number];
  readonly data: Float32Array;
}

/**
 * A step's preview as a worker makes it: 8-bit RGB pixels, row-major, at the
 * preview decoder's own size (latent size for the linear projection). The
 * API scales and encodes it for each client. Previews are transient: the bus
 * keeps only the latest one per job and they take no sequence number.
 */
export interface JobPreview {
  readonly type: 'preview';
  readonly job_id: string;
  readonly step: number;
  readonly steps: number;
  readonly width: number;
  readonly height: number;
  /** width × height × 3 bytes. */
  readonly rgb: Buffer;
  readonly at: string;
}

/** What a job subscription delivers. */
export type JobMessage = JobEvent | JobPreview;
