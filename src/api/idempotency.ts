import { createHash, randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { GiraffeError, isGiraffeError } from '../errors';

/**
 * What a used Idempotency-Key remembers: the request's fingerprint and the id
 * of the job it makes. The id is chosen when the key is first claimed, before
 * anything is enqueued, so the enqueue itself is the idempotent step: the
 * queue takes a job id once (GIRAFFE_ERR_JOB_EXISTS after that).
 */
interface Entry {
  readonly fingerprint: string;
  /** Absent only on entries written by an older version (claimed, job not yet made). */
  readonly jobId?: string;
}

/** Storage for Idempotency-Key entries: in-process (embedded) or Redis (shared by API replicas). */
export interface IdempotencyStore {
  /**
   * Claims the key with `entry` unless it is claimed already; resolves with the
   * entry that holds it now (`entry` itself when this call claimed it).
   */
  claim(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<Entry>;
  /** Replaces an entry (one an older version left without its job id). */
  replace(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<void>;
  release(scope: string, key: string): Promise<void>;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  #entries = new Map<string, { entry: Entry; expires: number }>();

  async claim(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<Entry> {
    const id = `${scope}\n${key}`;
    const now = Date.now();
    const found = this.#entries.get(id);
    if (found && found.expires > now) return found.entry;
    this.#sweep(now);
    this.#entries.set(id, { entry, expires: now + ttlMs });
    return entry;
  }

  async replace(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<void> {
    this.#entries.set(`${scope}\n${key}`, { entry, expires: Date.now() + ttlMs });
  }

  async release(scope: string, key: string): Promise<void> {
    this.#entries.delete(`${scope}\n${key}`);
  }

  #sweep(now: number): void {
    // Bounded by the request rate × TTL; drop expired entries as new ones arrive.
    for (const [id, { expires }] of this.#entries) if (expires <= now) this.#entries.delete(id);
  }
}

export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  #key(scope: string, key: string): string {
    // Hash the client's key: it is arbitrary text, and the owner id scopes it.
    return `${this.prefix}:idem:${scope}:${createHash('sha256').update(key).digest('hex')}`;
  }

  async claim(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<Entry> {
    const k = this.#key(scope, key);
    // SET NX then GET in one transaction: the entry that won, whoever set it.
    const replies = await this.redis.multi().set(k, JSON.stringify(entry), 'PX', ttlMs, 'NX').get(k).exec();
    const [err, raw] = replies?.[1] ?? [];
    if (err) throw err;
    return raw ? (JSON.parse(raw as string) as Entry) : entry;
  }

  async replace(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<void> {
    await this.redis.set(this.#key(scope, key), JSON.stringify(entry), 'PX', ttlMs);
  }

  async release(scope: string, key: string): Promise<void> {
    await this.redis.del(this.#key(scope, key));
  }
}

/** Canonical JSON (sorted keys) so the same body sent with keys in another order is the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(canonical(body)).digest('hex');
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * Runs `create` once per (scope, Idempotency-Key): a retry with the same key
 * and the same body gets the job the first request made; the same key with a
 * different body is a 409. The key's job id is fixed when the key is first
 * claimed and `create` enqueues with it, so there is no window between
 * "claimed" and "job made" that a crash could leave behind: a retry after a
 * crash enqueues the same id (and makes the job), a concurrent duplicate
 * finds the id taken (GIRAFFE_ERR_JOB_EXISTS) and replays it (issue 17,
 * item 13). Without a key, `create` just runs with a fresh id.
 */
export async function idempotent(
  store: IdempotencyStore,
  scope: string,
  key: string | undefined,
  body: unknown,
  ttlMs: number,
  create: (jobId: string | undefined) => Promise<string>,
  /** Whether the job of a key claimed earlier exists: a retry then replays it without enqueueing. */
  exists: (jobId: string) => Promise<boolean> = async () => false,
): Promise<{ jobId: string; replayed: boolean }> {
  if (key === undefined) return { jobId: await create(undefined), replayed: false };
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      `Idempotency-Key: must be 1 … ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
      { field: 'Idempotency-Key' },
    );
  }
  const fingerprint = fingerprintOf(body);
  const fresh = { fingerprint, jobId: randomUUID() };
  let entry = await store.claim(scope, key, fresh, ttlMs);
  if (entry.fingerprint !== fingerprint) {
    throw new GiraffeError(
      'GIRAFFE_ERR_IDEMPOTENCY_CONFLICT',
      'this Idempotency-Key was used with a different request body',
    );
  }
  if (entry.jobId === undefined) {
    // Left by an older version that claimed first and chose the id later: finish it this way.
    await store.replace(scope, key, fresh, ttlMs);
    entry = fresh;
  }
  const jobId = entry.jobId!;
  // A retry of a request that made its job: answered as it stands, not refused by limits a new job meets.
  if (entry !== fresh && (await exists(jobId))) return { jobId, replayed: true };
  try {
    return { jobId: await create(jobId), replayed: false };
  } catch (err) {
    if (isGiraffeError(err, 'GIRAFFE_ERR_JOB_EXISTS')) return { jobId, replayed: true };
    // This request claimed the key and made nothing: the key may be used again.
    if (entry === fresh) await store.release(scope, key).catch(() => undefined);
    throw err;
  }
}
