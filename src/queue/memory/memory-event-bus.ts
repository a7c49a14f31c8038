import type { JobEvent, JobEventDraft, JobMessage, JobPreview } from '../../jobs';
import type { EventBus, Unsubscribe } from '../ports';

type Listener = (message: JobMessage) => void;

/** One job's numbered events (the newest `limit` of them) and its latest preview. */
interface JobHistory {
  lastSeq: number;
  events: JobEvent[];
  preview?: JobPreview;
}

/**
 * Job events inside one process. Delivery is synchronous, so events reach
 * every listener in publish order and a transition and its event are never
 * separated by other work. Histories live until the job store forgets the
 * job (its retention time).
 */
export class MemoryEventBus implements EventBus {
  // A wrapper object per subscription: the same function subscribed twice gets both.
  readonly #listeners = new Map<string, Set<{ readonly listener: Listener }>>();
  readonly #histories = new Map<string, JobHistory>();
  readonly #endedListeners = new Set<{ readonly listener: (jobId: string) => void }>();
  readonly #historyLimit: number;

  constructor(historyLimit = 500) {
    this.#historyLimit = historyLimit;
  }

  /** Numbers the event, keeps it and delivers it now; returns the event as delivered. */
  emit(draft: JobEventDraft): JobEvent {
    let history = this.#histories.get(draft.job_id);
    if (!history) this.#histories.set(draft.job_id, (history = { lastSeq: 0, events: [] }));
    const event: JobEvent = Object.assign({}, draft, { seq: ++history.lastSeq });
    history.events.push(event);
    // Trimmed in halves, not one by one: an O(n) shift per event would add up on long histories.
    if (history.events.length > this.#historyLimit * 1.5)
      history.events = history.events.slice(-this.#historyLimit);
    this.#deliver(event);
    if (event.type === 'succeeded' || event.type === 'failed' || event.type === 'canceled') {
      this.#deliverEnded(event.job_id);
    }
    return event;
  }

  /** The `seq` of the job's latest event (0: none yet). */
  lastSeq(jobId: string): number {
    return this.#histories.get(jobId)?.lastSeq ?? 0;
  }

  /** Drops a job's history (its record has expired). */
  forget(jobId: string): void {
    this.#histories.delete(jobId);
  }

  async publish(draft: JobEventDraft): Promise<number> {
    return this.emit(draft).seq;
  }

  async publishPreview(preview: JobPreview): Promise<void> {
    const history = this.#histories.get(preview.job_id);
    if (history) history.preview = preview;
    this.#deliver(preview);
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

  async history(jobId: string, afterSeq: number): Promise<JobEvent[] | undefined> {
    const history = this.#histories.get(jobId);
    if (!history) return afterSeq === 0 ? [] : undefined;
    const kept = history.events.filter((e) => e.seq > afterSeq);
    const first = history.events[0]?.seq ?? history.lastSeq + 1;
    return afterSeq + 1 < first && afterSeq < history.lastSeq ? undefined : kept;
  }

  async latestPreview(jobId: string): Promise<JobPreview | undefined> {
    return this.#histories.get(jobId)?.preview;
  }

  async subscribeEnded(listener: (jobId: string) => void): Promise<Unsubscribe> {
    const subscription = { listener };
    this.#endedListeners.add(subscription);
    return async () => void this.#endedListeners.delete(subscription);
  }

  #deliverEnded(jobId: string): void {
    for (const { listener } of [...this.#endedListeners]) {
      try {
        listener(jobId);
      } catch {
        // As in #deliver.
      }
    }
  }

  /** A throwing listener cannot stop the others or the publisher. */
  #deliver(message: JobMessage): void {
    const subscriptions = this.#listeners.get(message.job_id);
    if (!subscriptions) return;
    for (const { listener } of [...subscriptions]) {
      try {
        listener(message);
      } catch {
        // A subscriber's bug is its own; the job goes on.
      }
    }
  }
}
