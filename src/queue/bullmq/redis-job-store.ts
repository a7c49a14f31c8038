import type { Redis } from 'ioredis';
import type { JobEvent, JobProgress, JobRecord } from '../../jobs';
import { jobEvent, type FinalState, type JobStateStore, type StartedJob } from '../job-lifecycle';
import type { ListQuery } from '../ports';
import { encodeEvent } from './event-codec';
import * as scripts from './job-scripts';
import { decodeRecord, fieldsOf, specOf } from './record-codec';
import type { RedisKeys } from './redis-keys';

/**
 * Job records in Redis hashes (`<prefix>:job:<id>`), with list indexes and
 * events. Every state change is one Lua script; events go out on the same
 * connection, so one store's events reach subscribers in the order it made them.
 */
export class RedisJobStore implements JobStateStore {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #retentionMs: number;

  constructor(redis: Redis, keys: RedisKeys, retentionMs: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#retentionMs = retentionMs;
  }

  /** False when a job with this id exists already. */
  async create(record: JobRecord): Promise<boolean> {
    const k = this.#keys;
    const created = Date.parse(record.created_at);
    const trimBefore = String((created - this.#retentionMs) * 1000);
    const reply = await scripts.createJob.run(
      this.#redis,
      [k.job(record.id), k.jobs, k.owner(record.owner), k.seq, k.models],
      [JSON.stringify(specOf(record)), String(created), trimBefore, record.id, record.model],
    );
    return reply === 1;
  }

  /** Publishes the first `queued` event of a new job unless a worker has started it already. */
  async announce(id: string, position: number | undefined): Promise<void> {
    const event = jobEvent(id, { type: 'queued', ...(position === undefined ? {} : { position }) });
    await scripts.announceJob.run(
      this.#redis,
      [this.#keys.job(id)],
      [this.#keys.events(id), encodeEvent(event)],
    );
  }

  /** Removes a record that never made it into BullMQ. */
  async discard(record: JobRecord): Promise<void> {
    const k = this.#keys;
    await this.#redis
      .multi()
      .del(k.job(record.id))
      .zrem(k.jobs, record.id)
      .zrem(k.owner(record.owner), record.id)
      .exec();
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return decodeRecord(fieldsOf(await this.#redis.hgetall(this.#keys.job(id))));
  }

  /** Newest first; index entries whose record has expired are dropped on the way. */
  async list(query: ListQuery = {}): Promise<JobRecord[]> {
    const limit = Math.max(0, Math.floor(query.limit ?? 50));
    const index = query.owner === undefined ? this.#keys.jobs : this.#keys.owner(query.owner);
    const out: JobRecord[] = [];
    let offset = 0;
    while (out.length < limit) {
      const ids = await this.#redis.zrevrange(index, offset, offset + (limit - out.length) - 1);
      if (ids.length === 0) break;
      const pipeline = this.#redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.#keys.job(id));
      const replies = (await pipeline.exec()) ?? [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const [err, reply] = replies[i] ?? [];
        if (err) throw err;
        const record = decodeRecord(fieldsOf(reply));
        if (!record) gone.push(id);
        // The owner key is a name, the record the truth.
        else if (query.owner === undefined || record.owner === query.owner) out.push(record);
      });
      offset += ids.length;
      if (gone.length > 0) {
        await this.#redis.zrem(index, ...gone);
        if (index !== this.#keys.jobs) await this.#redis.zrem(this.#keys.jobs, ...gone);
        offset -= gone.length;
      }
    }
    return out;
  }

  /** Flags a running (or just claimed) job for cancellation and tells every consumer. */
  async requestCancel(id: string): Promise<'not_found' | 'already_finished' | 'cancel_requested'> {
    const reply = await scripts.requestCancel.run(this.#redis, [this.#keys.job(id)], [this.#keys.cancel, id]);
    return reply as 'not_found' | 'already_finished' | 'cancel_requested';
  }

  /** Jobs ahead of this one in its model's BullMQ queue; undefined when it is not waiting there. */
  async position(model: string, id: string): Promise<number | undefined> {
    const k = this.#keys;
    const reply = await scripts.jobPosition.run(
      this.#redis,
      [k.bullmq(model, 'wait'), k.bullmq(model, 'prioritized'), k.bullmq(model, 'delayed')],
      [id],
    );
    return typeof reply === 'number' && reply >= 0 ? reply : undefined;
  }

  async start(id: string, worker: string, at: string): Promise<StartedJob | undefined> {
    const queued = encodeEvent(jobEvent(id, { type: 'queued' }));
    const reply = await scripts.startJob.run(
      this.#redis,
      [this.#keys.job(id)],
      [worker, at, this.#keys.events(id), queued],
    );
    const fields = fieldsOf(reply);
    const record = decodeRecord(fields);
    return record && { record, cancelRequested: fields?.cancel === '1' };
  }

  async saveProgress(id: string, attempt: number, progress: JobProgress): Promise<void> {
    await scripts.saveProgress.run(
      this.#redis,
      [this.#keys.job(id)],
      [String(attempt), JSON.stringify(progress)],
    );
  }

  async requeue(id: string, attempt: number, event: JobEvent): Promise<boolean> {
    const reply = await scripts.requeueJob.run(
      this.#redis,
      [this.#keys.job(id)],
      [String(attempt), this.#keys.events(id), encodeEvent(event)],
    );
    return reply === 1;
  }

  async finish(id: string, final: FinalState, event: JobEvent): Promise<boolean> {
    const reply = await scripts.finishJob.run(
      this.#redis,
      [this.#keys.job(id), this.#keys.result(id)],
      [
        final.status,
        event.at,
        final.status === 'succeeded' ? JSON.stringify(final.result) : '',
        final.status === 'failed' ? JSON.stringify(final.error) : '',
        String(this.#retentionMs),
        this.#keys.events(id),
        encodeEvent(event),
      ],
    );
    return reply === 1;
  }

  async publish(event: JobEvent): Promise<void> {
    await this.#redis.publish(this.#keys.events(event.job_id), encodeEvent(event));
  }
}
