import { randomUUID } from 'node:crypto';
import { GiraffeError, errorCatalogue, isGiraffeError } from '../errors';
import {
  modelIdSchema,
  type JobError,
  type JobEventBody,
  type JobEventDraft,
  type JobPreview,
  type JobProgress,
  type JobRecord,
  type JobResult,
} from '../jobs';
import type { DriverOptions, JobContext, JobHandler, NewJob } from './ports';

/**
 * The job's life as both drivers live it: which transitions exist, which
 * errors retry, what each transition publishes. A driver supplies the storage
 * ({@link JobStateStore}, whose writes are atomic) and decides when to call
 * these; it never re-implements the rules.
 */

export const MIN_PRIORITY = 1;
/** BullMQ's limit (2^21). */
export const MAX_PRIORITY = 2_097_152;
export const DEFAULT_PRIORITY = 100;

/** Driver settings with defaults applied. */
export interface LifecycleSettings {
  readonly retentionMs: number;
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly eventHistory: number;
}

export const defaultSettings: LifecycleSettings = Object.freeze({
  retentionMs: 86_400_000,
  maxAttempts: 3,
  backoffMs: 1000,
  eventHistory: 500,
});

export function resolveSettings(options: DriverOptions): LifecycleSettings {
  const settings = {
    retentionMs: options.retentionMs ?? defaultSettings.retentionMs,
    maxAttempts: options.maxAttempts ?? defaultSettings.maxAttempts,
    backoffMs: options.backoffMs ?? defaultSettings.backoffMs,
    eventHistory: options.eventHistory ?? defaultSettings.eventHistory,
  };
  const bad = Object.entries(settings).find(
    ([key, value]) => !Number.isInteger(value) || value < (key === 'backoffMs' ? 0 : 1),
  );
  if (bad)
    throw new GiraffeError('GIRAFFE_ERR_CONFIG_INVALID', `queue option ${bad[0]} must be a positive integer`);
  return Object.freeze(settings);
}

// UUIDs and similar: no dots or slashes, so an id is safe in file paths and Redis keys.
const jobIdPattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function isValidJobId(id: unknown): id is string {
  return typeof id === 'string' && jobIdPattern.test(id);
}

/** The `queued` record of a new job: attempts 0, default priority, a fresh id unless given. */
export function newJobRecord(job: NewJob, now = new Date()): JobRecord {
  const id = job.id ?? randomUUID();
  if (!isValidJobId(id)) {
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      'job id must be 1-128 letters, digits, "_" or "-"',
      {
        field: 'id',
      },
    );
  }
  if (!modelIdSchema.safeParse(job.model).success) {
    throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `model: not a model name: ${job.model}`, {
      field: 'model',
    });
  }
  const priority = job.priority ?? DEFAULT_PRIORITY;
  if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      `priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`,
      { field: 'priority' },
    );
  }
  return {
    id,
    model: job.model,
    owner: job.owner ?? null,
    status: 'queued',
    request: job.request,
    priority,
    created_at: now.toISOString(),
    attempts: 0,
    ...(job.request_id === undefined ? {} : { request_id: job.request_id }),
    ...(job.webhook === undefined ? {} : { webhook: job.webhook }),
  };
}

export function jobEvent(jobId: string, body: JobEventBody): JobEventDraft {
  // Object.assign, not `{ ...body, job_id, at }`: Node 20's V8 takes a slow path for a spread
  // followed by more properties (about 2 µs against 0.05 µs), and this runs several times a job.
  return Object.assign({}, body, { job_id: jobId, at: new Date().toISOString() });
}

/** How a job ends. */
export type FinalState =
  | { readonly status: 'succeeded'; readonly result: JobResult }
  | { readonly status: 'failed'; readonly error: JobError }
  | { readonly status: 'canceled' };

/** What one run of the handler came to. */
export type RunOutcome =
  FinalState | { readonly status: 'retry'; readonly error: JobError; readonly delayMs: number };

export function finalEvent(jobId: string, final: FinalState): JobEventDraft {
  switch (final.status) {
    case 'succeeded':
      return jobEvent(jobId, { type: 'succeeded', result: final.result });
    case 'failed':
      return jobEvent(jobId, { type: 'failed', error: final.error });
    case 'canceled':
      return jobEvent(jobId, { type: 'canceled' });
  }
}

/** A GiraffeError, also one that crossed a thread boundary as plain data. */
function asGiraffeError(err: unknown): GiraffeError | undefined {
  if (err instanceof GiraffeError) return err;
  return GiraffeError.isSerialized(err) ? GiraffeError.fromJSON(err) : undefined;
}

export function toJobError(err: unknown): JobError {
  const giraffe = asGiraffeError(err);
  if (giraffe) return { code: giraffe.code, message: giraffe.message };
  const message = err instanceof Error ? err.message : String(err);
  return {
    code: 'GIRAFFE_ERR_GENERATION_FAILED',
    message: message || errorCatalogue.GIRAFFE_ERR_GENERATION_FAILED.title,
  };
}

/** The abort reason a consumer uses when the job is canceled (as opposed to a shutdown). */
export function cancelReason(jobId: string): GiraffeError {
  return new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', `job ${jobId} was canceled`, { job_id: jobId });
}

/** Abort reason when a consumer closes and hands a running job back. */
export function shutdownReason(): GiraffeError {
  return new GiraffeError(
    'GIRAFFE_ERR_QUEUE_UNAVAILABLE',
    'worker is shutting down; the job goes back to the queue',
  );
}

function canceledBy(signal: AbortSignal): boolean {
  return signal.aborted && isGiraffeError(signal.reason, 'GIRAFFE_ERR_GENERATION_CANCELED');
}

/** First retry waits `backoffMs`, each later one twice as long (BullMQ's `exponential`). */
export function retryDelay(settings: LifecycleSettings, failuresBefore: number): number {
  return settings.backoffMs * 2 ** failuresBefore;
}

/**
 * Classifies a handler's error. Cancellation (the error or the signal) ends
 * the job `canceled`; a non-retryable GiraffeError fails it at once; anything
 * else retries until `maxAttempts` failures.
 */
export function classifyError(
  err: unknown,
  signal: AbortSignal,
  tally: AttemptTally,
  settings: LifecycleSettings,
): RunOutcome {
  const giraffe = asGiraffeError(err);
  if (canceledBy(signal) || giraffe?.code === 'GIRAFFE_ERR_GENERATION_CANCELED')
    return { status: 'canceled' };
  const error = toJobError(err);
  const retryable = giraffe ? giraffe.retryable : true;
  if (retryable && tally.failuresBefore + 1 < (tally.maxAttempts ?? settings.maxAttempts)) {
    return { status: 'retry', error, delayMs: retryDelay(settings, tally.failuresBefore) };
  }
  return { status: 'failed', error };
}

/** Where a job stands against its attempt limit. */
export interface AttemptTally {
  /** Failed attempts before this one (hand-backs on shutdown do not count). */
  readonly failuresBefore: number;
  /** The job's own limit when it carries one (BullMQ's `attempts`). @defaultValue the driver's maxAttempts */
  readonly maxAttempts?: number;
}

/** What a worker ending its own job must still hold, checked in the same step as the ending. */
export interface FinishFence {
  /** The attempt that must still be the record's. */
  readonly attempt: number;
  /** A lock that must still hold this token (the bullmq driver's: BullMQ's job lock). */
  readonly lock?: { readonly key: string; readonly token: string };
}

/** A job a consumer has just claimed. */
export interface StartedJob {
  readonly record: JobRecord;
  /** Someone asked to cancel it before this attempt started. */
  readonly cancelRequested: boolean;
}

/**
 * The storage half of the lifecycle. Each method is one atomic step; the ones
 * that take an event publish it only when the step happened, so subscribers
 * never see a transition that lost a race.
 */
export interface JobStateStore {
  /**
   * queued → running: attempts + 1, `worker`, `started_at`, progress cleared,
   * and the `started` event (with the new attempt) published in the same step.
   * Undefined, and nothing published, when the record is gone or already final.
   */
  start(id: string, worker: string, at: string): Promise<StartedJob | undefined>;
  /**
   * Saves progress and publishes its event in one step, while `attempt` is
   * still the record's running attempt (so a snapshot and the events after
   * it always agree); false, and nothing published, otherwise.
   */
  progress(id: string, attempt: number, progress: JobProgress, event: JobEventDraft): Promise<boolean>;
  /** running → queued while `attempt` is still the running attempt; publishes `event` if it moved. */
  requeue(id: string, attempt: number, event: JobEventDraft): Promise<boolean>;
  /**
   * Any non-final state → `final`; sets the record's expiry to the retention
   * time and publishes `event` only if it moved. The one place a job ends.
   * With a fence, only while the worker still holds the job (see
   * FinishFence): a worker that lost it to another cannot end it.
   */
  finish(id: string, final: FinalState, event: JobEventDraft, fence?: FinishFence): Promise<boolean>;
  /** Publishes a preview (transient: no record change, no sequence number). */
  publishPreview(preview: JobPreview): Promise<void>;
}

/** Runs the transitions of the job lifecycle against one store. */
export class JobLifecycle {
  readonly settings: LifecycleSettings;
  readonly #store: JobStateStore;

  constructor(store: JobStateStore, settings: LifecycleSettings) {
    this.#store = store;
    this.settings = settings;
  }

  /** Claims the job for `worker` and publishes `started`; undefined when it must not run. */
  start(id: string, worker: string): Promise<StartedJob | undefined> {
    return this.#store.start(id, worker, new Date().toISOString());
  }

  /** Runs the handler once and classifies how it ended; never throws. */
  async run(
    handler: JobHandler,
    started: StartedJob,
    signal: AbortSignal,
    tally: AttemptTally,
  ): Promise<RunOutcome> {
    if (started.cancelRequested || canceledBy(signal)) return { status: 'canceled' };
    try {
      const result = await handler(started.record, this.#context(started.record, signal));
      // A cancel that reached the job before it ended wins, even past its last step: the API
      // answered it with 202, a promise that the job ends canceled (issue 17, item 10).
      if (canceledBy(signal)) return { status: 'canceled' };
      return { status: 'succeeded', result };
    } catch (err) {
      return classifyError(err, signal, tally, this.settings);
    }
  }

  /**
   * Ends the job; false when it had already ended, or the fence no longer
   * holds (nothing published then).
   */
  finish(id: string, final: FinalState, fence?: FinishFence): Promise<boolean> {
    return this.#store.finish(id, final, finalEvent(id, final), fence);
  }

  /** Puts a running attempt back to `queued` (retry, hand-back) and publishes `queued`. */
  requeue(id: string, attempt: number, position?: number): Promise<boolean> {
    return this.#store.requeue(
      id,
      attempt,
      jobEvent(id, { type: 'queued', ...(position === undefined ? {} : { position }) }),
    );
  }

  #context(record: JobRecord, signal: AbortSignal): JobContext {
    const store = this.#store;
    return {
      signal,
      attempt: record.attempts,
      progress: async (progress: JobProgress) => {
        // After an abort the job is being canceled or handed back: late steps would only confuse watchers.
        if (signal.aborted) return;
        await store.progress(
          record.id,
          record.attempts,
          progress,
          jobEvent(record.id, { type: 'progress', ...progress }),
        );
      },
      preview: async (preview) => {
        if (signal.aborted) return;
        await store.publishPreview(
          Object.assign(
            { type: 'preview' as const, job_id: record.id, at: new Date().toISOString() },
            preview,
          ),
        );
      },
    };
  }
}
