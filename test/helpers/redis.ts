import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';

import { testRedisUrl } from '../redis-url';

/** The tests' Redis: db 15 of REDIS_URL (or the local one) unless set otherwise (test/redis-url.js). */
export const REDIS_URL = testRedisUrl();

/** A key prefix of this test's own (a Cluster hash tag, like the real one). */
export function testPrefix(name: string): string {
  return `{giraffe-test-${name}-${randomBytes(4).toString('hex')}}`;
}

/** Deletes every key under a test prefix. */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
