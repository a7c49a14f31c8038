import type {
  InputImageName,
  JobError,
  JobEvent,
  JobEventBody,
  JobEventDraft,
  JobMessage,
  JobPreview,
  JobProgress,
  JobRecord,
  JobResult,
  ResolvedJobRequest,
} from '../jobs';

/**
 * The small ports between the API/worker and the queue technology. Two
 * drivers implement them: `memory` (embedded mode, one process) and
 * `bullmq` (BullMQ + Redis, any number of API and worker processes). Nothing
 * above these interfaces knows which one it has.
 */

export interface NewJob {
  /** Job id; a random UUID when omitted. */
  readonly id?: string;
  readonly model: string;
  readonly request: ResolvedJobRequest;
  readonly owner?: string | null;
  /** 1 (first) … 2,097,152; lower runs sooner. @defaultValue 100 */
  readonly priority?: number;
  readonly request_id?: string;
  /** The job's webhook, delivered by the worker. */
  readonly webhook?: JobRecord['webhook'];
  /**
   * Refuse the job (GIRAFFE_ERR_QUEUE_FULL) when its model's queue already
   * holds this many waiting jobs; checked in the same step that records it.
   */
  readonly maxDepth?: number;
}

/**
 * A job just queued: its record, and its place in the queue when it was
 * queued (absent when a worker took it at once).
 */
export type EnqueuedJob = JobRecord & { readonly position?: number };

export type CancelOutcome =
  /** It was waiting and is gone from the queue; its state is `canceled`. */
  | 'canceled'
  /** It is running; its worker stops it at the next step boundary and it ends `canceled`. */
  | 'cancel_requested'
  /** It had already finished; nothing changed. */
  | 'already_finished'
  | 'not_found';

export interface ListQuery {
  /** Only this owner's jobs (`null`: jobs made without an API key). Omitted: all jobs. */
  readonly owner?: string | null;
  /** @defaultValue 50 */
  readonly limit?: number;
}

/** Submitting, inspecting and canceling jobs: what the API uses. */
export interface JobQueue {
  /** Adds a job to the queue of its model and records it as `queued`. */
  enqueue(job: NewJob): Promise<EnqueuedJob>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Jobs ahead of this one in its model's queue (0: next), undefined when it is not waiting. */
  position(id: string): Promise<number | undefined>;
  cancel(id: string): Promise<CancelOutcome>;
  /** Most recent first, still within retention. */
  list(query?: ListQuery): Promise<JobRecord[]>;
  /** Jobs waiting (not yet running), for one model or all. */
  depth(model?: string): Promise<number>;
  /** Models with at least one job waiting (back-offs included), in no particular order. */
  waitingModels(): Promise<string[]>;
  /**
   * Ends every job of `model` that no worker holds — waiting, waiting out a
   * back-off, or (bullmq) left `running` by a worker whose lock expired — as
   * `failed` with `error`. For models no live worker serves (see
   * UnservedJobSweeper); resolves with the ids it ended.
   */
  failUnheld(model: string, error: JobError): Promise<string[]>;
}

export type Unsubscribe = () => Promise<void>;

/**
 * Job events from workers to every API process. Each job's events are
 * numbered from 1 as they are published and kept (bounded, for the retention
 * time) so that a stream client that reconnects gets exactly what it missed.
 * Previews travel the same way but are transient: only the latest is kept.
 */
export interface EventBus {
  /** Numbers the event, keeps it in the job's history and delivers it; resolves with its `seq`. */
  publish(event: JobEventDraft): Promise<number>;
  /** Delivers a preview to the job's subscribers and keeps it as the job's latest. */
  publishPreview(preview: JobPreview): Promise<void>;
  /**
   * Delivers the job's events (in `seq` order) and previews until
   * unsubscribed. Resolves once the subscription is live, so anything
   * published after it resolves is delivered.
   */
  subscribe(jobId: string, listener: (message: JobMessage) => void): Promise<Unsubscribe>;
  /**
   * The job's kept events with `seq` > `afterSeq`, oldest first; undefined
   * when some of them are no longer kept (trimmed or expired), so the caller
   * cannot fill the gap and must start again from a snapshot.
   */
  history(jobId: string, afterSeq: number): Promise<JobEvent[] | undefined>;
  /** The job's latest preview while it is kept (the job runs, or just ended). */
  latestPreview(jobId: string): Promise<JobPreview | undefined>;
  /**
   * Tells the listener the id of every job that ends (any job, after its
   * final event), for process-wide bookkeeping such as metrics: one
   * subscription instead of one per job. Resolves once it is live.
   */
  subscribeEnded(listener: (jobId: string) => void): Promise<Unsubscribe>;
}

export interface StoredImage {
  readonly data: Buffer;
  readonly content_type: string;
}

/**
 * A job's images, kept for the retention time: its results, and the input
 * images of an edit (stored once by the API when it accepts the job, read by
 * the worker that runs it). `delete` removes both.
 */
export interface ResultStore {
  put(jobId: string, index: number, image: StoredImage): Promise<void>;
  get(jobId: string, index: number): Promise<StoredImage | undefined>;
  /** Stores an input image of the job (`image`, `mask_image`). */
  putInput(jobId: string, name: InputImageName, image: StoredImage): Promise<void>;
  getInput(jobId: string, name: InputImageName): Promise<StoredImage | undefined>;
  delete(jobId: string): Promise<void>;
}

/** What a worker announces about itself; `/readyz` and `GET /v1/models` read it. */
export interface WorkerInfo {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly models: readonly string[];
  readonly device: string;
  readonly concurrency: number;
  readonly started_at: string;
  /** Job ids running right now. */
  readonly current_jobs: readonly string[];
  /** Model metadata the worker loaded (sizes, schedulers, defaults), keyed by model id. */
  readonly model_info?: Readonly<Record<string, unknown>>;
  /**
   * Models loaded in memory now, when the worker loads them on first use
   * (embedded mode); absent: every model in `models` is loaded.
   */
  readonly loaded?: readonly string[];
  readonly heartbeat_at: string;
}

export interface WorkerRegistry {
  /** Records or refreshes a worker; it disappears when heartbeats stop for the TTL. */
  heartbeat(info: Omit<WorkerInfo, 'heartbeat_at'>, ttlMs: number): Promise<void>;
  remove(workerId: string): Promise<void>;
  list(): Promise<WorkerInfo[]>;
  /**
   * Shared record of since when models have had waiting jobs and no live
   * worker, so every API process measures from the same moment: notes `now`
   * for each of `unserved` not noted yet, forgets every other model, and
   * resolves with the moment (ms since the epoch) noted for each of `unserved`.
   */
  noteUnserved(unserved: readonly string[], now: number): Promise<Record<string, number>>;
}

/** What a job handler may do while it runs. */
export interface JobContext {
  /** Aborted when the job is canceled or the worker shuts down past its grace period. */
  readonly signal: AbortSignal;
  /** 1 on the first run, 2 after a retry or a stalled-job recovery … */
  readonly attempt: number;
  /** Records the job's progress and publishes a `progress` event. */
  progress(progress: JobProgress): Promise<void>;
  /** Publishes a preview of the current step (dropped when the job is no longer this attempt's). */
  preview(preview: Omit<JobPreview, 'type' | 'job_id' | 'at'>): Promise<void>;
}

/**
 * Runs one job. Resolve with the result (after storing its images) or throw:
 * a GiraffeError whose `retryable` is false (bad input, cancellation,
 * invalid model output) ends the job at once; anything else is retried with
 * back-off up to the attempt limit.
 */
export type JobHandler = (job: JobRecord, context: JobContext) => Promise<JobResult>;

export interface ConsumerOptions {
  /** Identifies this worker in job records and events. */
  readonly workerId: string;
  /** Jobs run at once by this consumer. @defaultValue 1 */
  readonly concurrency?: number;
  /**
   * bullmq: how long a job's lock lasts without renewal; a worker that stops
   * renewing (killed, frozen) loses the job to another after this long.
   * Renewed every half of it. @defaultValue 6,000
   */
  readonly lockDurationMs?: number;
}

/**
 * Takes jobs of its models from the queue and runs them with a handler. The
 * memory driver runs at most `concurrency` jobs across all its models and,
 * when a slot frees, takes the next job from the models in turn (round
 * robin), so no model's queue starves another's; the bullmq driver runs one
 * BullMQ Worker per model, each with `concurrency` slots.
 */
export interface JobConsumer {
  /** Ids of the jobs running now. */
  readonly running: readonly string[];
  /** Starts taking jobs of one more model (one that appeared after the consumer started). */
  serve(model: string): void;
  /**
   * Stops taking jobs and waits up to `graceMs` for running ones to finish;
   * jobs still running then are aborted and returned to the queue (not failed),
   * so another worker picks them up.
   */
  close(graceMs?: number): Promise<void>;
}

/** One driver: the ports plus how workers consume. */
/**
 * The latest denoising checkpoint of each running job (opaque bytes), so that
 * the worker that takes a job over resumes it instead of starting again.
 */
export interface CheckpointStore {
  /** Replaces the job's checkpoint; it expires with the job's retention at the latest. */
  save(jobId: string, data: Buffer): Promise<void>;
  load(jobId: string): Promise<Buffer | undefined>;
  delete(jobId: string): Promise<void>;
}

export interface QueueDriver {
  readonly name: 'memory' | 'bullmq';
  readonly queue: JobQueue;
  readonly events: EventBus;
  readonly results: ResultStore;
  readonly checkpoints: CheckpointStore;
  readonly workers: WorkerRegistry;
  /** Starts taking jobs of one model, or of several (see JobConsumer). */
  consume(models: string | readonly string[], handler: JobHandler, options: ConsumerOptions): JobConsumer;
  /** Answers whether the backing store is reachable (Redis PING); always true in memory. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Settings both drivers take. */
export interface DriverOptions {
  /** How long finished jobs and their images are kept. @defaultValue 86,400,000 (24 h) */
  readonly retentionMs?: number;
  /** Attempts per job before it fails for good (retryable errors, stalls). @defaultValue 3 */
  readonly maxAttempts?: number;
  /** First retry delay; doubles per attempt. @defaultValue 1000 */
  readonly backoffMs?: number;
  /** Events kept per job for stream clients that reconnect. @defaultValue 500 */
  readonly eventHistory?: number;
}

export type { JobEvent, JobEventBody, JobEventDraft, JobMessage, JobPreview, JobRecord, JobResult };
