import type { Redis } from 'ioredis';
import type { WorkerInfo, WorkerRegistry } from '../ports';
import { LuaScript } from './lua-script';
import { guarded } from './redis-connections';
import type { RedisKeys } from './redis-keys';

/** Values of the live workers (see `lua/live-workers.lua`). */
export const liveWorkers = LuaScript.fromFile('live-workers');

/** Notes models without a live worker, forgets the others (see `lua/note-unserved.lua`). */
export const noteUnserved = LuaScript.fromFile('note-unserved');

/**
 * Workers announce themselves under `<prefix>:worker:<id>` (JSON with a TTL)
 * and in a set of ids; a worker whose heartbeats stop disappears with its key,
 * and `list()` drops its id from the set.
 */
export class RedisWorkerRegistry implements WorkerRegistry {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  heartbeat(info: Omit<WorkerInfo, 'heartbeat_at'>, ttlMs: number): Promise<void> {
    const value: WorkerInfo = { ...info, heartbeat_at: new Date().toISOString() };
    return guarded('worker heartbeat', async () => {
      await this.#redis
        .multi()
        .set(this.#keys.worker(info.id), JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlMs)))
        .sadd(this.#keys.workers, info.id)
        .exec();
    });
  }

  remove(workerId: string): Promise<void> {
    return guarded('removing a worker', async () => {
      await this.#redis.multi().del(this.#keys.worker(workerId)).srem(this.#keys.workers, workerId).exec();
    });
  }

  noteUnserved(unserved: readonly string[], now: number): Promise<Record<string, number>> {
    return guarded('noting unserved models', async () => {
      const flat = (await noteUnserved.run(
        this.#redis,
        [this.#keys.unserved],
        [String(now), ...unserved],
      )) as string[];
      const since: Record<string, number> = {};
      for (let i = 0; i < flat.length; i += 2) since[flat[i]] = Number(flat[i + 1]);
      return since;
    });
  }

  list(): Promise<WorkerInfo[]> {
    return guarded('listing workers', async () => {
      const values = await liveWorkers.run(this.#redis, [this.#keys.workers], [this.#keys.worker('')]);
      return (values as string[]).map((v) => JSON.parse(v) as WorkerInfo);
    });
  }
}
