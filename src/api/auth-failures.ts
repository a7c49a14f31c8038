import type { FastifyInstance } from 'fastify';
import type Redis from 'ioredis';

/**
 * Failed authentications per client address in a fixed window
 * (AUTH_FAILURE_MAX per RATE_LIMIT_WINDOW_MS): wrong API keys and stream
 * tokens never reach the request rate limit, which counts per key, so
 * without this a client could try keys as fast as it can send (issue 17,
 * item 4). In Redis when the API has it, so every replica counts the same;
 * a Redis that is away skips the count rather than take the API down.
 */
export class AuthFailures {
  readonly #memory = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly redis?: { client: Redis; prefix: string },
  ) {}

  /** Seconds until the address may try again, or 0 when it may now. */
  async blockedFor(address: string, now = Date.now()): Promise<number> {
    if (this.redis) {
      const key = this.#key(address);
      const replies = await this.redis.client
        .multi()
        .get(key)
        .pttl(key)
        .exec()
        .catch(() => null);
      const count = Number(replies?.[0]?.[1] ?? 0);
      const ttl = Number(replies?.[1]?.[1] ?? 0);
      return count >= this.max ? Math.max(1, Math.ceil(ttl / 1000)) : 0;
    }
    const entry = this.#memory.get(address);
    if (!entry || entry.resetAt <= now) return 0;
    return entry.count >= this.max ? Math.max(1, Math.ceil((entry.resetAt - now) / 1000)) : 0;
  }

  /** Counts one failed authentication from `address`. */
  async record(address: string, now = Date.now()): Promise<void> {
    if (this.redis) {
      const key = this.#key(address);
      await this.redis.client
        .multi()
        // The window starts at the first failure (SET NX PX works on every Redis version).
        .set(key, '0', 'PX', this.windowMs, 'NX')
        .incr(key)
        .exec()
        .catch(() => undefined);
      return;
    }
    const entry = this.#memory.get(address);
    if (!entry || entry.resetAt <= now) {
      this.#sweep(now);
      this.#memory.set(address, { count: 1, resetAt: now + this.windowMs });
    } else {
      entry.count += 1;
    }
  }

  #key(address: string): string {
    return `${this.redis!.prefix}:authfail:${address}`;
  }

  #sweep(now: number): void {
    // Bounded by the addresses that failed within one window.
    for (const [address, { resetAt }] of this.#memory) if (resetAt <= now) this.#memory.delete(address);
  }
}

const failures = new WeakMap<FastifyInstance, AuthFailures>();

/** The app's counter, made on first use from its settings and its Redis connection (if any). */
export function authFailuresOf(app: FastifyInstance): AuthFailures {
  let counter = failures.get(app);
  if (!counter) {
    const { config, redis } = app.giraffe;
    counter = new AuthFailures(
      config.AUTH_FAILURE_MAX,
      config.RATE_LIMIT_WINDOW_MS,
      redis ? { client: redis, prefix: config.REDIS_PREFIX } : undefined,
    );
    failures.set(app, counter);
  }
  return counter;
}
