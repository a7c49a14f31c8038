import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import { GiraffeError } from '../errors';

/** What a used Idempotency-Key remembers: the request's fingerprint and the job it made. */
interface Entry {
  readonly fingerprint: string;
  /** Undefined while the first request is still enqueueing. */
  readonly jobId?: string;
}

/** Storage for Idempotency-Key entries: in-process (embedded) or Redis (shared by API replicas). */
export interface IdempotencyStore {
  /** Claims the key for this fingerprint; returns the existing entry when it was already claimed. */
  claim(scope: string, key: string, fingerprint: string, ttlMs: number): Promise<Entry | undefined>;
  complete(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<void>;
  release(scope: string, key: string): Promise<void>;
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  #entries = new Map<string, { entry: Entry; expires: number }>();

  async claim(scope: string, key: string, fingerprint: string, ttlMs: number): Promise<Entry | undefined> {
    const id = `${scope}\n${key}`;
    const now = Date.now();
    const found = this.#entries.get(id);
    if (found && found.expires > now) return found.entry;
    this.#sweep(now);
    this.#entries.set(id, { entry: { fingerprint }, expires: now + ttlMs });
    return undefined;
  }

  async complete(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<void> {
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

  async claim(scope: string, key: string, fingerprint: string, ttlMs: number): Promise<Entry | undefined> {
    const k = this.#key(scope, key);
    const set = await this.redis.set(k, JSON.stringify({ fingerprint }), 'PX', ttlMs, 'NX');
    if (set === 'OK') return undefined;
    const raw = await this.redis.get(k);
    return raw ? (JSON.parse(raw) as Entry) : undefined;
  }

  async complete(scope: string, key: string, entry: Required<Entry>, ttlMs: number): Promise<void> {
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
 * Runs `create` once per (owner, Idempotency-Key): a retry with the same key
 * and the same body gets the job the first request made; the same key with a
 * different body is a 409. Without a key, `create` just runs.
 */
export async function idempotent(
  store: IdempotencyStore,
  scope: string,
  key: string | undefined,
  body: unknown,
  ttlMs: number,
  create: () => Promise<string>,
): Promise<{ jobId: string; replayed: boolean }> {
  if (key === undefined) return { jobId: await create(), replayed: false };
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      `Idempotency-Key: must be 1 … ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
      { field: 'Idempotency-Key' },
    );
  }
  const fingerprint = fingerprintOf(body);
  const existing = await store.claim(scope, key, fingerprint, ttlMs);
  if (existing) {
    if (existing.fingerprint !== fingerprint) {
      throw new GiraffeError(
        'GIRAFFE_ERR_IDEMPOTENCY_CONFLICT',
        'this Idempotency-Key was used with a different request body',
      );
    }
    if (!existing.jobId)
      throw new GiraffeError(
        'GIRAFFE_ERR_IDEMPOTENCY_IN_PROGRESS',
        'a request with this Idempotency-Key is still being handled',
      );
    return { jobId: existing.jobId, replayed: true };
  }
  try {
    const jobId = await create();
    await store.complete(scope, key, { fingerprint, jobId }, ttlMs);
    return { jobId, replayed: false };
  } catch (err) {
    // The first attempt failed: the key may be used again.
    await store.release(scope, key).catch(() => undefined);
    throw err;
  }
}
