import type { Config } from '../config';
import { createQueueDriver, type QueueDriver } from '../queue';

/** The queue driver the settings ask for: memory without REDIS_URL, BullMQ with it. */
export function queueFromConfig(config: Config): QueueDriver {
  return createQueueDriver({
    redisUrl: config.REDIS_URL,
    prefix: config.REDIS_PREFIX,
    dataDir: config.DATA_DIR,
    results: config.RESULTS_STORE,
    retentionMs: config.RETENTION_SECONDS * 1000,
    maxAttempts: config.JOB_MAX_ATTEMPTS,
  });
}
