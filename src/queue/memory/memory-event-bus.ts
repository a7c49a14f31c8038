import type { JobEvent } from '../../jobs';
import type { EventBus, Unsubscribe } from '../ports';

type Listener = (event: JobEvent) => void;

/**
 * Job events inside one process. Delivery is synchronous, so events reach
 * every listener in publish order and a transition and its event are never
 * separated by other work.
 */
export class MemoryEventBus implements EventBus {
  // A wrapper object per subscription: the same function subscribed twice gets both.
  readonly #listeners = new Map<string, Set<{ readonly listener: Listener }>>();

  /** Delivers now; a throwing listener cannot stop the others or the publisher. */
  emit(event: JobEvent): void {
    const subscriptions = this.#listeners.get(event.job_id);
    if (!subscriptions) return;
    for (const { listener } of [...subscriptions]) {
      try {
        listener(event);
      } catch {
        // A subscriber's bug is its own; the job goes on.
      }
    }
  }

  async publish(event: JobEvent): Promise<void> {
    this.emit(event);
  }

  async subscribe(jobId: string, listener: Listener): Promise<Unsubscribe> {
    const subscription = { listener };
    let subscriptions = this.#listeners.get(jobId);
    if (!subscriptions) this.#listeners.set(jobId, (subscriptions = new Set()));
    subscriptions.add(subscription);
    return async () => {
      subscriptions.delete(subscription);
      if (subscriptions.size === 0 && this.#listeners.get(jobId) === subscriptions)
        this.#listeners.delete(jobId);
    };
  }
}
