import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { GiraffeError } from '../../errors';
import { isFinal, type JobError, type JobRecord } from '../../jobs';
import { newJobRecord, type JobLifecycle, type LifecycleSettings } from '../job-lifecycle';
import type { CancelOutcome, EnqueuedJob, JobQueue, ListQuery, NewJob } from '../ports';
import { queueFullError } from '../queue-full-error';
import { guarded } from './redis-connections';
import type { RedisJobStore } from './redis-job-store';
import type { RedisKeys } from './redis-keys';

/** BullMQ job name; one kind of job per queue, the queue names the model. */
export const JOB_NAME = 'generate';

/**
 * BullMQ's job data and return value: nothing. Our record holds the request
 * and the result, so each crosses the wire once per job; a BullMQ job is the
 * place in the queue and the lock, its id the record's.
 */
export type NoData = Record<string, never>;
export type NoResult = null;

/**
 * The BullMQ options of every job the driver adds (the benches give raw
 * BullMQ the same, so the comparison is fair).
 */
export function bullmqJobOptions(settings: LifecycleSettings, priority: number): JobsOptions {
  return {
    priority,
    attempts: settings.maxAttempts,
    backoff: { type: 'exponential', delay: settings.backoffMs },
    // Our record keeps the outcome and refuses a second job with its id, so BullMQ
    // keeps nothing of a completed job; a failed one stays for its stack trace.
    removeOnComplete: true,
    removeOnFail: { age: Math.max(1, Math.ceil(settings.retentionMs / 1000)) },
  };
}

/**
 * The API side of the distributed driver: one BullMQ queue per model
 * (`jobs-<model>`), our own record beside each job so `get(id)` needs no
 * model, and every call bounded in time so a Redis outage is a 503.
 */
export class BullmqJobQueue implements JobQueue {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #store: RedisJobStore;
  readonly #lifecycle: JobLifecycle;
  readonly #settings: LifecycleSettings;
  readonly #queues = new Map<string, Queue<NoData, NoResult>>();

  constructor(redis: Redis, keys: RedisKeys, store: RedisJobStore, lifecycle: JobLifecycle) {
    this.#redis = redis;
    this.#keys = keys;
    this.#store = store;
    this.#lifecycle = lifecycle;
    this.#settings = lifecycle.settings;
  }

  async enqueue(job: NewJob): Promise<EnqueuedJob> {
    const record = newJobRecord(job);
    return guarded('enqueueing a job', async () => {
      const created = await this.#store.create(record, job.maxDepth);
      if (created === 'full') throw queueFullError(record.model, job.maxDepth ?? 0);
      if (created === 'exists') {
        // The id was taken by an enqueue that may have died between its two steps (the record, then
        // BullMQ's job): while the record still waits, make sure BullMQ has the job too. BullMQ adds a
        // job id once, so this changes nothing when it is there already.
        const existing = await this.#store.get(record.id);
        if (existing?.status === 'queued') {
          await this.#add(existing);
        }
        throw new GiraffeError('GIRAFFE_ERR_JOB_EXISTS', `job ${record.id} already exists`, {
          field: 'id',
          job_id: record.id,
        });
      }
      try {
        await this.#add(record);
      } catch (err) {
        await this.#store.discard(record).catch(() => undefined);
        throw err;
      }
      // Best effort: if this fails, the worker that starts the job publishes `queued` first.
      const position = await this.#store.announce(record.model, record.id).catch(() => undefined);
      return position === undefined ? record : { ...record, position };
    });
  }

  get(id: string): Promise<JobRecord | undefined> {
    return guarded('reading a job', () => this.#store.get(id));
  }

  position(id: string): Promise<number | undefined> {
    return guarded('reading a queue position', async () => {
      const record = await this.#store.get(id);
      if (record?.status !== 'queued') return undefined;
      return this.#store.position(record.model, id);
    });
  }

  cancel(id: string): Promise<CancelOutcome> {
    return guarded('canceling a job', async () => {
      const record = await this.#store.get(id);
      if (!record) return 'not_found';
      if (isFinal(record.status)) return 'already_finished';
      // BullMQ refuses (0) to remove a locked job: a worker holds it, so it is running.
      if (record.status === 'queued' && (await this.#queue(record.model).remove(id)) === 1) {
        return (await this.#lifecycle.finish(id, { status: 'canceled' })) ? 'canceled' : 'already_finished';
      }
      return this.#store.requestCancel(id);
    });
  }

  list(query?: ListQuery): Promise<JobRecord[]> {
    return guarded('listing jobs', () => this.#store.list(query));
  }

  depth(model?: string): Promise<number> {
    return guarded('counting waiting jobs', async () => {
      const models = model === undefined ? await this.#redis.smembers(this.#keys.models) : [model];
      const counts = await Promise.all(
        models.map((m) => this.#queue(m).getJobCounts('waiting', 'prioritized', 'delayed')),
      );
      return counts.reduce((sum, c) => sum + Object.values(c).reduce((a, b) => a + b, 0), 0);
    });
  }

  waitingModels(): Promise<string[]> {
    return guarded('listing models with waiting jobs', async () => {
      const models = await this.#redis.smembers(this.#keys.models);
      const counts = await Promise.all(
        models.map((m) => this.#queue(m).getJobCounts('waiting', 'prioritized', 'delayed')),
      );
      return models.filter((_, i) => Object.values(counts[i]).some((n) => n > 0));
    });
  }

  failUnheld(model: string, error: JobError): Promise<string[]> {
    return guarded('failing jobs no worker serves', async () => {
      const queue = this.#queue(model);
      // Active ones too: BullMQ refuses (0) to remove a job whose lock a live worker still renews, so
      // only those whose worker is gone (and with it every worker that could recover them) end here.
      const ids = await queue.getRanges(['waiting', 'prioritized', 'delayed', 'active'], 0, -1);
      const ended: string[] = [];
      for (const id of new Set(ids)) {
        if ((await queue.remove(id)) !== 1) continue;
        if (await this.#lifecycle.finish(id, { status: 'failed', error })) ended.push(id);
      }
      return ended;
    });
  }

  /** Closes the BullMQ queues (the connection belongs to the driver). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }

  /** BullMQ's job for a record (it carries no data: the record has it). */
  async #add(record: JobRecord): Promise<void> {
    await this.#queue(record.model).add(
      JOB_NAME,
      {},
      { jobId: record.id, ...bullmqJobOptions(this.#settings, record.priority) },
    );
  }

  #queue(model: string): Queue<NoData, NoResult> {
    let queue = this.#queues.get(model);
    if (!queue) {
      queue = new Queue<NoData, NoResult>(this.#keys.queueName(model), {
        connection: this.#redis,
        prefix: this.#keys.prefix,
      });
      // Failures reach callers through the failing call; an unheard 'error' event would throw.
      queue.on('error', () => undefined);
      this.#queues.set(model, queue);
    }
    return queue;
  }
}
