import type Redis from 'ioredis';

/** Options a caller set with `POST /sdapi/v1/options`, as given (JSON values). */
export type A1111Options = Readonly<Record<string, unknown>>;

/**
 * Where each API key's A1111 options live. A1111 has one global settings
 * file; here every key has its own, so one client choosing a checkpoint does
 * not change another's. Options are kept until overwritten, like A1111's
 * config.json.
 */
export interface A1111OptionsStore {
  get(owner: string | null): Promise<A1111Options>;
  /** Merges `changes` into the owner's options and returns the result. */
  merge(owner: string | null, changes: A1111Options): Promise<A1111Options>;
}

const ownerKey = (owner: string | null): string => owner ?? '_';

/** Embedded mode: one process, a map. */
export class MemoryA1111OptionsStore implements A1111OptionsStore {
  readonly #byOwner = new Map<string, A1111Options>();

  async get(owner: string | null): Promise<A1111Options> {
    return this.#byOwner.get(ownerKey(owner)) ?? {};
  }

  async merge(owner: string | null, changes: A1111Options): Promise<A1111Options> {
    const merged = { ...(await this.get(owner)), ...changes };
    this.#byOwner.set(ownerKey(owner), merged);
    return merged;
  }
}

/**
 * Distributed mode: one Redis hash per owner (`<prefix>:a1111:options:<owner>`),
 * a field per option holding its JSON, so every API replica sees the same
 * options and concurrent changes to different options do not overwrite each other.
 */
export class RedisA1111OptionsStore implements A1111OptionsStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  #key(owner: string | null): string {
    return `${this.prefix}:a1111:options:${ownerKey(owner)}`;
  }

  async get(owner: string | null): Promise<A1111Options> {
    const fields = await this.redis.hgetall(this.#key(owner));
    const options: Record<string, unknown> = {};
    for (const [name, json] of Object.entries(fields)) {
      try {
        options[name] = JSON.parse(json);
      } catch {
        // Written by something else: skip it rather than fail every read.
      }
    }
    return options;
  }

  async merge(owner: string | null, changes: A1111Options): Promise<A1111Options> {
    const entries = Object.entries(changes);
    if (entries.length > 0)
      await this.redis.hset(
        this.#key(owner),
        Object.fromEntries(entries.map(([k, v]) => [k, JSON.stringify(v)])),
      );
    return this.get(owner);
  }
}
