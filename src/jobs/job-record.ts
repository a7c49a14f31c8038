import type { ResolvedJobRequest } from './job-request';

export const jobStatuses = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof jobStatuses)[number];

/** States a job never leaves. */
export const finalStatuses: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'canceled']);
export const isFinal = (status: JobStatus): boolean => finalStatuses.has(status);

/** One stored image of a finished job. */
export interface JobImage {
  readonly index: number;
  readonly content_type: string;
  readonly bytes: number;
}

export interface JobResult {
  readonly images: readonly JobImage[];
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  /** AUTOMATIC1111-style infotext. */
  readonly parameters: string;
  readonly timings: Readonly<Record<string, number>>;
}

export interface JobError {
  readonly code: string;
  readonly message: string;
}

export interface JobProgress {
  readonly step: number;
  readonly steps: number;
  readonly elapsed_ms: number;
  /** Estimated time to the last step, from the mean step time so far. */
  readonly eta_ms: number;
}

/** Everything known about a job; what `GET /v1/jobs/:id` shows. */
export interface JobRecord {
  readonly id: string;
  readonly model: string;
  /** Id of the API key that created it (null when the API is open). Jobs are visible to their owner only. */
  readonly owner: string | null;
  readonly status: JobStatus;
  readonly request: ResolvedJobRequest;
  /** 1 (first) … 2,097,152; lower runs sooner. */
  readonly priority: number;
  readonly created_at: string;
  readonly started_at?: string;
  readonly finished_at?: string;
  /** Attempts started so far (a retry or a stalled-job recovery starts another). */
  readonly attempts: number;
  readonly worker?: string;
  readonly progress?: JobProgress;
  readonly result?: JobResult;
  readonly error?: JobError;
  /** The HTTP request that created the job, for log correlation. */
  readonly request_id?: string;
}
