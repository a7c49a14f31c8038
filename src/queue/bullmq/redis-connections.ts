import { Redis, type RedisOptions } from 'ioredis';
import { GiraffeError } from '../../errors';

/** How long an API-side call may wait for Redis before the API answers 503. */
export const API_TIMEOUT_MS = 5000;

/**
 * Opens a connection for one role. `api` (and `subscriber`) connections fail
 * fast when Redis is away, so a request gets a 503 instead of hanging;
 * `worker` connections wait for Redis to come back, as BullMQ requires
 * (`maxRetriesPerRequest: null`) and as a job in flight prefers.
 */
export function openRedis(url: string, role: 'api' | 'subscriber' | 'worker'): Redis {
  const options: RedisOptions = {
    // A connection dropped while it reconnects (Redis away or frozen) leaves a timer of this length
    // behind in ioredis, waiting for a socket that has closed already; its default 2 s kept
    // stopped processes (and jest's workers) alive for two more seconds.
    disconnectTimeout: 200,
    ...(role === 'worker'
      ? { maxRetriesPerRequest: null, connectionName: 'giraffe-worker' }
      : {
          maxRetriesPerRequest: 1,
          commandTimeout: API_TIMEOUT_MS,
          retryStrategy: (times) => Math.min(times * 100, 2000),
          connectionName: `giraffe-${role}`,
          // Commands asked for in the same tick (a burst of requests: rate-limit counters, reads,
          // BullMQ adds) go out as one write: per write, the kernel costs more than the command.
          enableAutoPipelining: role === 'api',
        }),
  };
  const redis = new Redis(url, options);
  // Errors reach the caller through the failing command; without a listener ioredis would print them.
  redis.on('error', () => undefined);
  return redis;
}

/** Closes a connection, politely when it can, at once when Redis is away. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([redis.quit(), new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
  } catch {
    // Closed under us: fine.
  } finally {
    clearTimeout(timer);
    // QUIT timed out or failed: drop the socket.
    if ((redis.status as string) !== 'end') redis.disconnect();
  }
}

/** PING with a short timeout; false instead of an error. */
export async function pingRedis(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const reply = await Promise.race([
      redis.ping(),
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs)),
      ),
    ]);
    return reply === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs an API-side Redis operation: at most {@link API_TIMEOUT_MS}, and any
 * failure that is not already a GiraffeError becomes
 * GIRAFFE_ERR_QUEUE_UNAVAILABLE (503, retryable).
 */
export async function guarded<T>(operation: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer from Redis in ${API_TIMEOUT_MS} ms`)),
          API_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    if (err instanceof GiraffeError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new GiraffeError(
      'GIRAFFE_ERR_QUEUE_UNAVAILABLE',
      `${operation} failed: ${reason}`,
      {},
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}
