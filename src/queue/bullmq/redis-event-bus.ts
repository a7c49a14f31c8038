import type { JobEvent, JobEventDraft, JobMessage, JobPreview } from '../../jobs';
import type { EventBus, Unsubscribe } from '../ports';
import { decodeMessage } from './event-codec';
import { guarded } from './redis-connections';
import type { RedisJobStore } from './redis-job-store';
import type { RedisKeys } from './redis-keys';
import type { RedisSubscriber } from './redis-subscriber';

/**
 * Job events over Redis: numbered and kept in a stream per job by the same
 * scripts that change the record, delivered over one pub/sub channel per job
 * (one subscriber connection per driver).
 */
export class RedisEventBus implements EventBus {
  readonly #store: RedisJobStore;
  readonly #subscriber: RedisSubscriber;
  readonly #keys: RedisKeys;

  constructor(store: RedisJobStore, subscriber: RedisSubscriber, keys: RedisKeys) {
    this.#store = store;
    this.#subscriber = subscriber;
    this.#keys = keys;
  }

  publish(event: JobEventDraft): Promise<number> {
    return guarded('publishing a job event', () => this.#store.publish(event));
  }

  publishPreview(preview: JobPreview): Promise<void> {
    return guarded('publishing a preview', () => this.#store.publishPreview(preview));
  }

  history(jobId: string, afterSeq: number): Promise<JobEvent[] | undefined> {
    return guarded('reading job events', () => this.#store.history(jobId, afterSeq));
  }

  latestPreview(jobId: string): Promise<JobPreview | undefined> {
    return guarded('reading a preview', () => this.#store.latestPreview(jobId));
  }

  subscribe(jobId: string, listener: (message: JobMessage) => void): Promise<Unsubscribe> {
    return this.#listen(this.#keys.events(jobId), (message) => {
      const decoded = decodeMessage(message);
      if (decoded) listener(decoded);
    });
  }

  subscribeEnded(listener: (jobId: string) => void): Promise<Unsubscribe> {
    return this.#listen(this.#keys.ended, listener);
  }

  async #listen(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    const listening = this.#subscriber.listen(channel, handler);
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
