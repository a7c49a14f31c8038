import type { FastifyInstance } from 'fastify';
import type Redis from 'ioredis';
import { GiraffeError } from '../errors';
import { isFinal } from '../jobs';
import type { JobQueue } from '../queue';

/** A reservation whose enqueue never reported back (its API process died) is forgotten after this long. */
const RESERVATION_TTL_MS = 60_000;
/** Seconds a client over MAX_JOBS_PER_KEY is told to wait: about one job's time. */
const RETRY_AFTER_S = 10;

/** Where one scope's unfinished jobs are listed: member → when it was added (ms). */
interface ActiveJobStore {
  /** Adds `member`; resolves with how many members the scope has after the add. */
  add(scope: string, member: string, now: number): Promise<number>;
  /** The scope's members, read only when it is at its limit (a scope may list thousands). */
  members(scope: string): Promise<Map<string, number>>;
  remove(scope: string, members: readonly string[]): Promise<void>;
}

class MemoryActiveJobs implements ActiveJobStore {
  readonly #scopes = new Map<string, Map<string, number>>();

  async add(scope: string, member: string, now: number): Promise<number> {
    let members = this.#scopes.get(scope);
    if (!members) this.#scopes.set(scope, (members = new Map()));
    members.set(member, now);
    return members.size;
  }

  async members(scope: string): Promise<Map<string, number>> {
    return new Map(this.#scopes.get(scope));
  }

  async remove(scope: string, members: readonly string[]): Promise<void> {
    const found = this.#scopes.get(scope);
    if (!found) return;
    for (const m of members) found.delete(m);
    if (found.size === 0) this.#scopes.delete(scope);
  }
}

/** A Redis failure here is the queue being away: 503 with Retry-After, as every other Redis call of a request. */
async function unlessRedisAway<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof GiraffeError) throw err;
    throw new GiraffeError('GIRAFFE_ERR_QUEUE_UNAVAILABLE', 'the job queue (Redis) cannot be reached', {
      retry_after_s: 5,
    });
  }
}

class RedisActiveJobs implements ActiveJobStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  #key(scope: string): string {
    return `${this.prefix}:active:${scope}`;
  }

  async add(scope: string, member: string, now: number): Promise<number> {
    const key = this.#key(scope);
    // One round trip: the add and the count are one transaction, so two submits never both miss each other.
    const replies = await unlessRedisAway(() =>
      this.redis.multi().zadd(key, now, member).pexpire(key, this.ttlMs).zcard(key).exec(),
    );
    const [err, count] = replies?.[2] ?? [];
    if (err) throw err;
    return Number(count);
  }

  async members(scope: string): Promise<Map<string, number>> {
    const flat = await unlessRedisAway(() => this.redis.zrange(this.#key(scope), '0', '-1', 'WITHSCORES'));
    const members = new Map<string, number>();
    for (let i = 0; i < flat.length; i += 2) members.set(flat[i], Number(flat[i + 1]));
    return members;
  }

  async remove(scope: string, members: readonly string[]): Promise<void> {
    if (members.length > 0) await unlessRedisAway(() => this.redis.zrem(this.#key(scope), ...members));
  }
}

/**
 * MAX_JOBS_PER_KEY: how many unfinished (queued or running) jobs one API key
 * — or, on an open API, one client address — may have, so that one client
 * cannot fill the whole queue (issue 17, item 3). Each scope keeps an index
 * of its jobs (in Redis when the API has it, so every replica counts the
 * same); the job records stay the truth: when the index says the scope is at
 * its limit, its members are read back and the finished or expired ones are
 * dropped before the answer is given. A submit reserves its place before it
 * enqueues, so concurrent submits can refuse each other but never both pass.
 */
export class ActiveJobLimit {
  constructor(
    private readonly store: ActiveJobStore,
    private readonly queue: Pick<JobQueue, 'get'>,
    private readonly max: number,
  ) {}

  /** Runs `enqueue` (which resolves with the new job's id) if `scope` has room, else a 429. */
  async admit(scope: string, reservation: string, enqueue: () => Promise<string>): Promise<string> {
    const pending = `pending:${reservation}`;
    // Counted, not listed: under the limit a submit costs the same however many jobs the scope has.
    if ((await this.store.add(scope, pending, Date.now())) > this.max) {
      const members = await this.store.members(scope);
      const stale = await this.#finished(members);
      await this.store.remove(scope, stale);
      if (members.size - stale.length > this.max) {
        await this.store.remove(scope, [pending]);
        throw new GiraffeError(
          'GIRAFFE_ERR_TOO_MANY_JOBS',
          `at most ${this.max} unfinished jobs per client (MAX_JOBS_PER_KEY); wait for one to end or cancel one`,
          { retry_after_s: RETRY_AFTER_S, limit: this.max },
        );
      }
    }
    try {
      const jobId = await enqueue();
      // The job exists: failing to index it must not fail the request (the records are the truth).
      await this.store.add(scope, jobId, Date.now()).catch(() => undefined);
      return jobId;
    } finally {
      await this.store.remove(scope, [pending]).catch(() => undefined);
    }
  }

  /** Members that no longer hold a place: finished or expired jobs, and reservations that never completed. */
  async #finished(members: Map<string, number>): Promise<string[]> {
    const now = Date.now();
    const checks = [...members].map(async ([member, at]) => {
      if (member.startsWith('pending:')) return now - at > RESERVATION_TTL_MS ? member : undefined;
      const job = await this.queue.get(member);
      return !job || isFinal(job.status) ? member : undefined;
    });
    return (await Promise.all(checks)).filter((m): m is string => m !== undefined);
  }
}

const limits = new WeakMap<FastifyInstance, ActiveJobLimit>();

/** The app's limit, made on first use from its settings and its Redis connection (if any). */
export function activeJobLimit(app: FastifyInstance): ActiveJobLimit {
  let limit = limits.get(app);
  if (!limit) {
    const { config, redis, driver } = app.giraffe;
    const store = redis
      ? new RedisActiveJobs(redis, config.REDIS_PREFIX, config.RETENTION_SECONDS * 1000)
      : new MemoryActiveJobs();
    limits.set(app, (limit = new ActiveJobLimit(store, driver.queue, config.MAX_JOBS_PER_KEY)));
  }
  return limit;
}
