import type { Redis } from 'ioredis';
import type { JobEvent } from '../../jobs';
import type { EventBus, Unsubscribe } from '../ports';
import { decodeEvent, encodeEvent } from './event-codec';
import { guarded } from './redis-connections';
import type { RedisKeys } from './redis-keys';
import type { RedisSubscriber } from './redis-subscriber';

/** Job events over Redis pub/sub: one channel per job, one subscriber connection per driver. */
export class RedisEventBus implements EventBus {
  readonly #redis: Redis;
  readonly #subscriber: RedisSubscriber;
  readonly #keys: RedisKeys;

  constructor(redis: Redis, subscriber: RedisSubscriber, keys: RedisKeys) {
    this.#redis = redis;
    this.#subscriber = subscriber;
    this.#keys = keys;
  }

  publish(event: JobEvent): Promise<void> {
    return guarded('publishing a job event', async () => {
      await this.#redis.publish(this.#keys.events(event.job_id), encodeEvent(event));
    });
  }

  async subscribe(jobId: string, listener: (event: JobEvent) => void): Promise<Unsubscribe> {
    const listening = this.#subscriber.listen(this.#keys.events(jobId), (message) => {
      const event = decodeEvent(message);
      if (event) listener(event);
    });
    try {
      return await guarded('subscribing to job events', () => listening);
    } catch (err) {
      // Timed out but may still succeed: nobody could unsubscribe it then.
      listening
        .then(
          (stop) => stop(),
          () => undefined,
        )
        .catch(() => undefined);
      throw err;
    }
  }
}
