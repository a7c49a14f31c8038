import type { Redis } from 'ioredis';
import type { WorkerInfo, WorkerRegistry } from '../ports';
import { LuaScript } from './lua-script';
import { guarded } from './redis-connections';
import type { RedisKeys } from './redis-keys';

/** Values of the live workers; ids whose key expired leave the set in the same step. KEYS: set. ARGV: key prefix. */
const liveWorkers = new LuaScript(`
local values = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local value = redis.call('GET', ARGV[1] .. id)
  if value then table.insert(values, value) else redis.call('SREM', KEYS[1], id) end
end
return values
`);

/**
 * Notes models without a live worker, forgets the others, in one step (API replicas may race).
 * KEYS: hash. ARGV: now, then the unserved models. Returns model, since, model, since …
 */
const noteUnserved = new LuaScript(`
local keep = {}
for i = 2, #ARGV do
  keep[ARGV[i]] = true
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1])
end
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if keep[all[i]] then
    table.insert(out, all[i])
    table.insert(out, all[i + 1])
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
`);

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
