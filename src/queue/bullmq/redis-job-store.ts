import type { Redis } from 'ioredis';
import type { JobEvent, JobEventDraft, JobPreview, JobProgress, JobRecord } from '../../jobs';
import {
  jobEvent,
  type FinalState,
  type FinishFence,
  type JobStateStore,
  type StartedJob,
} from '../job-lifecycle';
import type { ListQuery } from '../ports';
import { decodeMessage, encodePreview } from './event-codec';
import { decodeRecord, fieldsOf, specOf, type JobSpec } from './record-codec';
import { transitionScripts, type Transition } from './job-scripts';
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
  /** Stream entries kept per job, and their lifetime (ms), as script arguments. */
  readonly #keep: string;
  readonly #ttl: string;

  constructor(redis: Redis, keys: RedisKeys, retentionMs: number, eventHistory = 500) {
    this.#redis = redis;
    this.#keys = keys;
    this.#retentionMs = retentionMs;
    this.#keep = String(eventHistory);
    this.#ttl = String(retentionMs);
  }

  #run(
    transition: Transition,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return transitionScripts[transition].run(this.#redis, keys, args);
  }

  /**
   * Records a new job: 'exists' when a job with this id exists already,
   * 'full' when its model's queue holds `maxDepth` waiting jobs.
   */
  async create(record: JobRecord, maxDepth = 0): Promise<'created' | 'exists' | 'full'> {
    const k = this.#keys;
    const created = Date.parse(record.created_at);
    const trimBefore = String((created - this.#retentionMs) * 1000);
    const reply = await this.#run(
      'createJob',
      [
        k.job(record.id),
        k.jobs,
        k.owner(record.owner),
        k.seq,
        k.models,
        k.bullmq(record.model, 'wait'),
        k.bullmq(record.model, 'prioritized'),
        k.bullmq(record.model, 'delayed'),
      ],
      [JSON.stringify(specOf(record)), String(created), trimBefore, record.id, record.model, maxDepth],
    );
    return reply === 1 ? 'created' : reply === -1 ? 'full' : 'exists';
  }

  /**
   * Publishes the first `queued` event of a new job, with its position in
   * the model's queue, unless a worker has started it already. Resolves with
   * the position it published, undefined when it published nothing.
   */
  async announce(model: string, id: string): Promise<number | undefined> {
    const k = this.#keys;
    const reply = await this.#run(
      'announceJob',
      [
        k.job(id),
        k.bullmq(model, 'wait'),
        k.bullmq(model, 'prioritized'),
        k.bullmq(model, 'delayed'),
        k.stream(id),
      ],
      [id, k.events(id), JSON.stringify(jobEvent(id, { type: 'queued' })), this.#keep, this.#ttl],
    );
    return typeof reply === 'number' && reply >= 0 ? reply : undefined;
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
    const reply = await this.#run('requestCancel', [this.#keys.job(id)], [this.#keys.cancel, id]);
    return reply as 'not_found' | 'already_finished' | 'cancel_requested';
  }

  /** Jobs ahead of this one in its model's BullMQ queue; undefined when it is not waiting there. */
  async position(model: string, id: string): Promise<number | undefined> {
    const k = this.#keys;
    const reply = await this.#run(
      'jobPosition',
      [k.bullmq(model, 'wait'), k.bullmq(model, 'prioritized'), k.bullmq(model, 'delayed')],
      [id],
    );
    return typeof reply === 'number' && reply >= 0 ? reply : undefined;
  }

  async start(id: string, worker: string, at: string): Promise<StartedJob | undefined> {
    // Published only when the worker beat the announcement: the job was at the front.
    const queued = JSON.stringify(jobEvent(id, { type: 'queued', position: 0 }));
    // The script adds the attempt it counts.
    const started = JSON.stringify({ type: 'started', worker, job_id: id, at });
    const reply = await this.#run(
      'startJob',
      [this.#keys.job(id), this.#keys.stream(id)],
      [worker, at, this.#keys.events(id), queued, started, this.#keep, this.#ttl],
    );
    if (!Array.isArray(reply) || typeof reply[0] !== 'string') return undefined;
    const [spec, attempt, cancel] = reply as [string, number, string];
    // Object.assign onto the fresh spec, not `{ ...spec, … }`: see jobEvent.
    const record: JobRecord = Object.assign(JSON.parse(spec) as JobSpec, {
      status: 'running' as const,
      attempts: attempt,
      started_at: at,
      worker,
    });
    return { record, cancelRequested: cancel === '1' };
  }

  async progress(id: string, attempt: number, progress: JobProgress, event: JobEventDraft): Promise<boolean> {
    const reply = await this.#run(
      'recordProgress',
      [this.#keys.job(id), this.#keys.stream(id)],
      [
        String(attempt),
        JSON.stringify(progress),
        this.#keys.events(id),
        JSON.stringify(event),
        this.#keep,
        this.#ttl,
      ],
    );
    return reply === 1;
  }

  async requeue(id: string, attempt: number, event: JobEventDraft): Promise<boolean> {
    const reply = await this.#run(
      'requeueJob',
      [this.#keys.job(id), this.#keys.stream(id)],
      [String(attempt), this.#keys.events(id), JSON.stringify(event), this.#keep, this.#ttl],
    );
    return reply === 1;
  }

  async finish(id: string, final: FinalState, event: JobEventDraft, fence?: FinishFence): Promise<boolean> {
    // The script adds the result or error from its own argument: that JSON travels once.
    const head = JSON.stringify({ type: event.type, job_id: event.job_id, at: event.at });
    const reply = await this.#run(
      'finishJob',
      // A key in the same slot when there is no lock to check: the script reads it only with a token.
      [
        this.#keys.job(id),
        this.#keys.result(id),
        this.#keys.stream(id),
        fence?.lock?.key ?? this.#keys.job(id),
      ],
      [
        final.status,
        event.at,
        final.status === 'succeeded' ? JSON.stringify(final.result) : '',
        final.status === 'failed' ? JSON.stringify(final.error) : '',
        String(this.#retentionMs),
        this.#keys.events(id),
        head,
        this.#keep,
        this.#keys.ended,
        id,
        fence ? String(fence.attempt) : '',
        fence?.lock?.token ?? '',
      ],
    );
    return reply === 1;
  }

  /** Numbers, keeps and publishes an event outside any transition. */
  async publish(event: JobEventDraft): Promise<number> {
    const id = event.job_id;
    const reply = await this.#run(
      'publishEvent',
      [this.#keys.job(id), this.#keys.stream(id)],
      [this.#keys.events(id), JSON.stringify(event), this.#keep, this.#ttl],
    );
    return Number(reply);
  }

  /**
   * Publishes a preview and keeps it as the job's latest (for a snapshot) for
   * a few minutes past the last one: previews matter only while a job runs.
   */
  async publishPreview(preview: JobPreview): Promise<void> {
    const id = preview.job_id;
    const wire = encodePreview(preview);
    await this.#redis
      .multi()
      .set(this.#keys.preview(id), wire, 'PX', Math.min(this.#retentionMs, PREVIEW_TTL_MS))
      .publish(this.#keys.events(id), wire)
      .exec();
  }

  async latestPreview(id: string): Promise<JobPreview | undefined> {
    const wire = await this.#redis.get(this.#keys.preview(id));
    const message = wire === null ? undefined : decodeMessage(wire);
    return message?.type === 'preview' ? message : undefined;
  }

  /** See {@link EventBus.history}. */
  async history(id: string, afterSeq: number): Promise<JobEvent[] | undefined> {
    const replies = await this.#redis
      .multi()
      .hget(this.#keys.job(id), 'seq')
      .xrange(this.#keys.stream(id), `(0-${afterSeq}`, '+')
      .exec();
    const [seqErr, seqReply] = replies?.[0] ?? [];
    const [rangeErr, entries] = replies?.[1] ?? [];
    if (seqErr || rangeErr) throw seqErr ?? rangeErr;
    const lastSeq = Number(seqReply ?? 0);
    const events: JobEvent[] = [];
    for (const [, fields] of entries as [string, string[]][]) {
      const message = decodeMessage(fields[1] ?? '');
      if (message && message.type !== 'preview') events.push(message);
    }
    // Every event after `afterSeq` up to the record's last must be there, with none missing at the start.
    const complete =
      afterSeq >= lastSeq ? true : events[0]?.seq === afterSeq + 1 && events.at(-1)!.seq >= lastSeq;
    return complete ? events : undefined;
  }
}

/** How long the latest preview of a job is kept after it was made. */
const PREVIEW_TTL_MS = 10 * 60_000;
