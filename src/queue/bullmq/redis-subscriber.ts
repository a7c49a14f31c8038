import type { Redis } from 'ioredis';
import { closeRedis } from './redis-connections';

type Handler = (message: string) => void;

/**
 * One subscriber connection shared by every listener of a driver: channels
 * are subscribed on first listen and unsubscribed after the last one leaves.
 * SUBSCRIBE/UNSUBSCRIBE of one channel run one after another, so a quick
 * leave-and-rejoin never ends unsubscribed.
 */
export class RedisSubscriber {
  readonly #open: () => Redis;
  #redis: Redis | undefined;
  readonly #channels = new Map<string, Set<{ readonly handler: Handler }>>();
  readonly #pending = new Map<string, Promise<void>>();
  /** Channels Redis has confirmed. */
  readonly #subscribed = new Set<string>();

  /** `open` creates the connection on first use: a driver that never listens opens none. */
  constructor(open: () => Redis) {
    this.#open = open;
  }

  /** Resolves once Redis has confirmed the subscription; the result stops listening. */
  async listen(channel: string, handler: Handler): Promise<() => Promise<void>> {
    const redis = this.#connection();
    let listeners = this.#channels.get(channel);
    if (!listeners) this.#channels.set(channel, (listeners = new Set()));
    const entry = { handler };
    listeners.add(entry);
    try {
      await this.#serial(channel, async () => {
        if (this.#subscribed.has(channel)) return;
        await redis.subscribe(channel);
        this.#subscribed.add(channel);
      });
    } catch (err) {
      await this.#leave(channel, listeners, entry).catch(() => undefined);
      throw err;
    }
    let left = false;
    return async () => {
      if (left) return;
      left = true;
      await this.#leave(channel, listeners, entry);
    };
  }

  async close(): Promise<void> {
    this.#channels.clear();
    this.#subscribed.clear();
    if (this.#redis) await closeRedis(this.#redis);
  }

  #connection(): Redis {
    if (!this.#redis) {
      const redis = (this.#redis = this.#open());
      redis.on('message', (channel: string, message: string) => {
        for (const { handler } of [...(this.#channels.get(channel) ?? [])]) {
          try {
            handler(message);
          } catch {
            // One listener's bug must not starve the others.
          }
        }
      });
    }
    return this.#redis;
  }

  async #leave(
    channel: string,
    listeners: Set<{ readonly handler: Handler }>,
    entry: { readonly handler: Handler },
  ) {
    listeners.delete(entry);
    if (listeners.size > 0 || this.#channels.get(channel) !== listeners) return;
    this.#channels.delete(channel);
    const redis = this.#redis;
    if (!redis) return;
    await this.#serial(channel, async () => {
      // Someone may have joined again while this waited its turn.
      if (this.#channels.has(channel) || !this.#subscribed.has(channel)) return;
      this.#subscribed.delete(channel);
      await redis.unsubscribe(channel);
    });
  }

  /** Runs `work` after every earlier (un)subscribe of this channel. */
  #serial(channel: string, work: () => Promise<void>): Promise<void> {
    const previous = this.#pending.get(channel) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#pending.set(channel, next);
    const cleanup = () => {
      if (this.#pending.get(channel) === next) this.#pending.delete(channel);
    };
    next.then(cleanup, cleanup);
    return next;
  }
}
