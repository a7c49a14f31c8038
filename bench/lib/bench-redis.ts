import Redis from 'ioredis';
import { bullmqJobOptions, defaultQueueSettings } from '../../dist/queue';

import { testRedisUrl } from '../../test/redis-url';

/** The benches' Redis: the tests' rule (db 15 of REDIS_URL unless it names one), never a developer's data. */
export const REDIS_URL = testRedisUrl();

/** What the bullmq driver gives each job it adds: raw BullMQ gets the same in the benches. */
export const driverJobOptions = bullmqJobOptions(defaultQueueSettings, 100);

/** Deletes every key a bench made under its prefix. */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
