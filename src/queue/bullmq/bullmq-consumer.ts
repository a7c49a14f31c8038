import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { GiraffeError } from '../../errors';
import type { JobError } from '../../jobs';
import {
  cancelReason,
  JobLifecycle,
  shutdownReason,
  toJobError,
  type FinalState,
  type LifecycleSettings,
} from '../job-lifecycle';
import type { ModelConsumer } from '../consumer-set';
import type { ConsumerOptions, JobHandler } from '../ports';
import type { NoData, NoResult } from './bullmq-job-queue';
import { closeRedis, openRedis } from './redis-connections';
import { RedisJobStore } from './redis-job-store';
import type { RedisKeys } from './redis-keys';
import type { RedisSubscriber } from './redis-subscriber';

/** What a consumer shares with its driver. */
export interface ConsumerContext {
  readonly url: string;
  readonly keys: RedisKeys;
  readonly settings: LifecycleSettings;
  readonly subscriber: RedisSubscriber;
}

/** The job ends for good: BullMQ must not retry it, and our record takes this outcome. */
class FinalOutcomeError extends UnrecoverableError {
  readonly outcome: FinalState;
  constructor(outcome: FinalState) {
    super(outcome.status === 'failed' ? outcome.error.message : `job ${outcome.status}`);
    this.outcome = outcome;
  }
}

/** A retryable failure; BullMQ decides from the job's `attempts` whether another run follows. */
class RetryableError extends Error {
  readonly error: JobError;
  constructor(error: JobError) {
    super(error.message);
    this.name = 'RetryableError';
    this.error = error;
  }
}

type QueueJob = Job<NoData, NoResult>;

interface Run {
  readonly job: QueueJob;
  readonly token: string | undefined;
  readonly controller: AbortController;
  attempt?: number;
  /** Given back to the queue by close(); the handler's outcome no longer counts. */
  handedBack: boolean;
  /** The hand-back to the queue, once begun (it happens once, by whichever side gets there first). */
  released?: Promise<void>;
  /** Settles when the processor has returned. */
  readonly processed: Promise<void>;
  readonly markProcessed: () => void;
}

const DEFAULT_LOCK_MS = 6000;
// After aborting handed-back jobs, how long close() waits for their handlers before dropping the connection.
const ABORT_WAIT_MS = 5000;
// How long a job being handed back may take to stop at a step boundary and save its checkpoint
// before close() releases it anyway (the next worker then resumes from an older one).
const HAND_BACK_CHECKPOINT_MS = 10_000;

/**
 * A BullMQ Worker on one model's queue. It records the job's life in our
 * record and ends it (final state + final event) before it hands the outcome
 * to BullMQ, fenced by its attempt: a worker that lost the job to
 * stalled-job recovery (another attempt has started) cannot end it. Killed
 * between the two steps, the worker leaves a BullMQ job that stalls and
 * whose next claim finds the record final; the other order could leave a
 * record `running` with no BullMQ job left to recover it. Only the endings
 * BullMQ decides alone (a job that stalled too often) are recorded from the
 * Worker's `failed` event.
 */
export class BullmqConsumer implements ModelConsumer {
  readonly #redis: Redis;
  readonly #lifecycle: JobLifecycle;
  readonly #worker: Worker<NoData, NoResult>;
  readonly #handler: JobHandler;
  readonly #workerId: string;
  /** BullMQ's lock key of a job in this consumer's queue. */
  readonly #lockKey: (id: string) => string;
  readonly #runs = new Map<string, Run>();
  readonly #settling = new Set<Promise<void>>();
  readonly #cancelListener: Promise<(() => Promise<void>) | undefined>;
  #closing: Promise<void> | undefined;

  constructor(context: ConsumerContext, model: string, handler: JobHandler, options: ConsumerOptions) {
    const { keys, settings } = context;
    this.#lockKey = (id) => keys.bullmq(model, `${id}:lock`);
    this.#handler = handler;
    this.#workerId = options.workerId;
    this.#redis = openRedis(context.url, 'worker');
    this.#lifecycle = new JobLifecycle(
      new RedisJobStore(this.#redis, keys, settings.retentionMs, settings.eventHistory),
      settings,
    );
    const lockDuration = options.lockDurationMs ?? DEFAULT_LOCK_MS;
    this.#worker = new Worker<NoData, NoResult>(
      keys.queueName(model),
      (job, token) => this.#process(job, token),
      {
        connection: this.#redis,
        prefix: keys.prefix,
        concurrency: Math.max(1, options.concurrency ?? 1),
        lockDuration,
        // A stalled job is moved back after its lock expired and two checks saw it: checking every half
        // lock keeps a killed worker's job away for about two lock durations, not three.
        stalledInterval: Math.max(500, Math.round(lockDuration / 2)),
        // An idle worker asks for work at least every second (BullMQ: 5): a job handed back on
        // SIGTERM has been seen to wait out a whole blocking call before another worker took it.
        drainDelay: 1,
        // Stalls count against the attempts (see attemptTally, which counts both); BullMQ's own
        // stall limit is a backstop: a job that kills every worker ends failed.
        maxStalledCount: Math.max(0, settings.maxAttempts - 1),
      },
    );
    this.#worker.on('failed', (job, err) => {
      if (job) this.#failed(job, err);
    });
    this.#worker.on('lockRenewalFailed', (ids) => {
      const lost = new GiraffeError(
        'GIRAFFE_ERR_QUEUE_UNAVAILABLE',
        'lost the job lock; another worker takes it over',
      );
      for (const id of ids) this.#runs.get(id)?.controller.abort(lost);
    });
    // Connection trouble shows up here and is retried by BullMQ; an unheard 'error' event would throw.
    this.#worker.on('error', () => undefined);
    this.#cancelListener = context.subscriber
      .listen(keys.cancel, (id) => this.#runs.get(id)?.controller.abort(cancelReason(id)))
      // Without the channel a running job still sees its cancel flag when it is next claimed.
      .catch(() => undefined);
  }

  get running(): readonly string[] {
    return [...this.#runs.keys()];
  }

  close(graceMs = 0): Promise<void> {
    this.#closing ??= (async () => {
      // Stops fetching at once; resolves when every running processor has returned.
      const closed = this.#worker.close().catch(() => undefined);
      if (this.#runs.size > 0 && !(await settlesWithin(closed, graceMs))) {
        await Promise.all([...this.#runs].map(([id, run]) => this.#handBack(id, run)));
      }
      await settlesWithin(closed, ABORT_WAIT_MS);
      await Promise.allSettled([...this.#settling]);
      const stopListening = await this.#cancelListener;
      await stopListening?.().catch(() => undefined);
      await closeRedis(this.#redis);
    })();
    return this.#closing;
  }

  async #process(job: QueueJob, token: string | undefined): Promise<NoResult> {
    const id = job.id;
    if (id === undefined) throw new UnrecoverableError('a BullMQ job without an id');
    let markProcessed = (): void => undefined;
    const processed = new Promise<void>((resolve) => (markProcessed = resolve));
    const run: Run = {
      job,
      token,
      controller: new AbortController(),
      handedBack: false,
      processed,
      markProcessed,
    };
    this.#runs.set(id, run);
    try {
      const started = await this.#lifecycle.start(id, this.#workerId);
      // Canceled or expired while it waited: nothing to run, nothing to report.
      if (!started) throw new UnrecoverableError(`job ${id} has no live record`);
      run.attempt = started.record.attempts;
      if (run.handedBack) {
        // close() ran while the claim was in flight and left the hand-back to us.
        await this.#releaseOnce(id, run);
        throw new WaitingError();
      }
      const tally = attemptTally(job);
      if (tally.failuresBefore >= tally.maxAttempts) {
        // Its earlier runs (failed or stalled) used the whole budget: end it without running again.
        const spent: FinalState = { status: 'failed', error: budgetSpentError(job, tally.maxAttempts) };
        const lock = run.token === undefined ? undefined : { key: this.#lockKey(id), token: run.token };
        await this.#lifecycle.finish(id, spent, { attempt: run.attempt, lock });
        throw new FinalOutcomeError(spent);
      }
      const outcome = await this.#lifecycle.run(this.#handler, started, run.controller.signal, tally);
      if (run.handedBack) {
        // Stopped by close(): the handler has saved its checkpoint; now another worker may take it.
        // Released before BullMQ hears of it: it ignores a WaitingError and leaves the job to us.
        await this.#releaseOnce(id, run);
        throw new WaitingError();
      }
      if (outcome.status === 'retry') {
        // Requeue before BullMQ releases the job, so another worker's start cannot be overwritten.
        await this.#lifecycle.requeue(id, run.attempt);
        throw new RetryableError(outcome.error);
      }
      // The record first (see the class comment); BullMQ keeps no result, the record has it.
      const lock = run.token === undefined ? undefined : { key: this.#lockKey(id), token: run.token };
      await this.#lifecycle.finish(id, outcome, { attempt: run.attempt, lock });
      if (outcome.status === 'succeeded') return null;
      throw new FinalOutcomeError(outcome);
    } finally {
      this.#runs.delete(id);
      run.markProcessed();
    }
  }

  #failed(job: QueueJob, err: Error): void {
    // Recorded before BullMQ heard of it.
    if (err instanceof FinalOutcomeError) return;
    // BullMQ itself may end a job: attempts used up, or stalled more than maxStalledCount times.
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return;
    const error = err instanceof RetryableError ? err.error : toJobError(err);
    this.#settle(job.id, { status: 'failed', error });
  }

  /** Ends the job; retried a few times because a result BullMQ accepted must not be lost. */
  #settle(id: string | undefined, final: FinalState): void {
    if (id === undefined) return;
    const settling = (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#lifecycle.finish(id, final);
          return;
        } catch (err) {
          if (attempt >= 4) throw err;
          await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
        }
      }
    })().catch(() => undefined);
    this.#settling.add(settling);
    void settling.finally(() => this.#settling.delete(settling));
  }

  /**
   * Past the grace time: the handler is stopped at its next step boundary,
   * where it saves a checkpoint, and the job goes back to the queue once it
   * has (or after HAND_BACK_CHECKPOINT_MS), so the worker that takes it next
   * resumes from the step this one reached.
   */
  async #handBack(id: string, run: Run): Promise<void> {
    run.handedBack = true;
    run.controller.abort(shutdownReason());
    // Not started yet: the processor releases it once its claim is through (releasing now could
    // let another worker start it before our claim lands).
    if (run.attempt === undefined) return;
    if (!(await settlesWithin(run.processed, HAND_BACK_CHECKPOINT_MS))) await this.#releaseOnce(id, run);
  }

  #releaseOnce(id: string, run: Run): Promise<void> {
    run.released ??= this.#release(id, run);
    return run.released;
  }

  /**
   * Record back to `queued` first (so another worker's start cannot be overwritten), then the
   * BullMQ job back to wait with our lock token: no failed attempt, no stall counted, as
   * waiting for the lock to expire would.
   */
  async #release(id: string, run: Run): Promise<void> {
    if (run.attempt !== undefined) await this.#lifecycle.requeue(id, run.attempt).catch(() => false);
    if (run.token !== undefined) await run.job.moveToWait(run.token).catch(() => undefined);
  }
}

/**
 * Where a job stands against JOB_MAX_ATTEMPTS — the one count of the retry
 * budget. BullMQ keeps two: `attemptsMade` (runs that failed, which its
 * `attempts` limits) and `stalledCounter` (runs whose worker died or froze
 * holding the job, which `maxStalledCount` limits apart), so 3 attempts once
 * allowed 2 stalls and 3 failures, 5 runs. Both spend the same budget here;
 * a hand-back on shutdown (moveToWait with our lock) is neither.
 */
export function attemptTally(job: Pick<QueueJob, 'attemptsMade' | 'stalledCounter' | 'opts'>): {
  readonly failuresBefore: number;
  readonly maxAttempts: number;
} {
  return { failuresBefore: job.attemptsMade + job.stalledCounter, maxAttempts: job.opts.attempts ?? 1 };
}

function budgetSpentError(job: QueueJob, maxAttempts: number): JobError {
  return {
    code: 'GIRAFFE_ERR_GENERATION_FAILED',
    message:
      `gave up: earlier runs used all ${maxAttempts} attempts ` +
      `(${job.attemptsMade} failed, ${job.stalledCounter} lost with their worker)`,
  };
}

/** True when `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
