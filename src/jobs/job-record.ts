import type { ResolvedJobRequest, WebhookSubscription } from './job-request';

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
  /** What it takes to make the same images again (absent on results recorded before it existed). */
  readonly reproducibility?: ReproducibilityRecord;
}

/**
 * Everything a generation depended on, so that the same images can be made
 * again — and so one can tell why two runs differ. Same model bytes, request,
 * giraffe and onnxruntime versions and execution provider give the same
 * image bytes; another provider or CPU family may differ in the last bits.
 */
export interface ReproducibilityRecord {
  /** giraffe's package version. */
  readonly giraffe_version: string;
  readonly model: {
    readonly id: string;
    /** SHA-256 over the model directory's files (see `fingerprintModel`: a `sha256sum` manifest, hashed). */
    readonly sha256: string;
    readonly files: number;
    readonly bytes: number;
    /** Precision of the U-Net's inputs. */
    readonly precision: 'float32' | 'float16';
  };
  readonly runtime: {
    /** `require('onnxruntime-node').env.versions.node`. */
    readonly onnxruntime_node: string;
    /** onnxruntime execution provider: `cpu` or `cuda`. */
    readonly execution_provider: string;
    /** The worker's device setting (`cpu`, `cuda:0` …). */
    readonly device: string;
    readonly node: string;
    readonly platform: string;
    readonly arch: string;
  };
  readonly scheduler: {
    readonly name: string;
    /** The request's `karras` flag. */
    readonly karras: boolean;
    /** Whether the run used Karras sigmas: the flag, or the config's `use_karras_sigmas` for euler and dpmpp_2m. */
    readonly karras_sigmas: boolean;
    /** The model's `scheduler/scheduler_config.json` as loaded. */
    readonly config: Readonly<Record<string, unknown>>;
  };
  readonly rng: {
    readonly seed: number;
    /** The generator and how the job draws from it, in words precise enough to re-implement. */
    readonly algorithm: string;
    readonly initial_noise: string;
    readonly step_noise: string;
  };
  /** The request as it ran: every default filled in. */
  readonly request: ResolvedJobRequest;
  /** SHA-256 (hex) of each stored image, in index order. */
  readonly images_sha256: readonly string[];
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
  /**
   * Set when this attempt resumed another's checkpoint instead of starting
   * from noise: the steps it took over (progress continues after them).
   */
  readonly resumed_from_step?: number;
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
  /** Where the job's webhooks go, when it asked for them. */
  readonly webhook?: WebhookSubscription;
  /**
   * `seq` of the job's latest event, read together with the rest of the
   * record: a stream's snapshot is this record, and its live feed starts after it.
   */
  readonly event_seq?: number;
}
