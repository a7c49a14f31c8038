import { GiraffeError } from '../errors';
import { createBullmqDriver } from './bullmq';
import { createMemoryDriver } from './memory';
import type { DriverOptions, QueueDriver } from './ports';

export interface QueueDriverOptions extends DriverOptions {
  /** Redis URL (`redis://` or `rediss://`). Unset: the in-process memory driver. */
  readonly redisUrl?: string;
  /**
   * Start of every Redis key and BullMQ queue name. Keep the braces: a Redis
   * Cluster hash tag that puts all of giraffe's keys in one slot.
   * @defaultValue `{giraffe}`
   */
  readonly prefix?: string;
  /**
   * Where file results live (`<dataDir>/results`). The memory driver keeps
   * results in memory without it; `results: 'files'` requires it.
   */
  readonly dataDir?: string;
  /**
   * bullmq only: result images in Redis (`redis`) or as files under
   * `dataDir` on a volume every API replica shares (`files`).
   * @defaultValue `redis`
   */
  readonly results?: 'redis' | 'files';
}

export const DEFAULT_PREFIX = '{giraffe}';

const prefixPattern = /^\{[A-Za-z0-9_.:-]+\}$/;

/** The memory driver without `redisUrl`, the BullMQ driver with it. */
export function createQueueDriver(options: QueueDriverOptions = {}): QueueDriver {
  if (!options.redisUrl) return createMemoryDriver(options);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (!prefixPattern.test(prefix)) {
    throw new GiraffeError('GIRAFFE_ERR_CONFIG_INVALID', `queue prefix must look like {name}: ${prefix}`);
  }
  return createBullmqDriver({
    ...options,
    redisUrl: options.redisUrl,
    prefix,
    results: options.results ?? 'redis',
  });
}
