import { isFinal, type JobError, type JobRecord } from '../../jobs';
import { cancelReason, jobEvent, newJobRecord, type JobLifecycle, type RunOutcome } from '../job-lifecycle';
import type { CancelOutcome, EnqueuedJob, JobQueue, ListQuery, NewJob } from '../ports';
import { queueFullError } from '../queue-full-error';
import type { MemoryEventBus } from './memory-event-bus';
import type { MemoryJobStore } from './memory-job-store';
import { WaitingList } from './waiting-list';

/** What the queue needs from a consumer to hand it jobs. */
export interface JobTaker {
  /** Can start another job now. */
  readonly hasCapacity: boolean;
  /** Starts the job of `model`; called synchronously with its removal from the queue. */
  take(id: string, model: string): void;
}

/**
 * The embedded queue: a waiting list per model, pushed to the consumers
 * registered for that model whenever a job arrives or a consumer frees a
 * slot. Every claim happens synchronously, so no job is handed out twice.
 */
export class MemoryJobQueue implements JobQueue {
  readonly #store: MemoryJobStore;
  readonly #bus: MemoryEventBus;
  readonly #lifecycle: JobLifecycle;
  readonly #lists = new Map<string, WaitingList>();
  readonly #takers = new Map<string, JobTaker[]>();
  /** Jobs waiting out a retry back-off. */
  readonly #backoffs = new Map<string, NodeJS.Timeout>();
  /** Abort controllers of the jobs consumers are running now. */
  readonly #running = new Map<string, AbortController>();

  constructor(store: MemoryJobStore, bus: MemoryEventBus, lifecycle: JobLifecycle) {
    this.#store = store;
    this.#bus = bus;
    this.#lifecycle = lifecycle;
  }

  async enqueue(job: NewJob): Promise<EnqueuedJob> {
    const record = newJobRecord(job);
    if (job.maxDepth !== undefined && (await this.depth(record.model)) >= job.maxDepth) {
      throw queueFullError(record.model, job.maxDepth);
    }
    this.#store.insert(record);
    const list = this.#list(record.model);
    list.push(record.id, record.priority);
    const position = list.position(record.id);
    // Published before any consumer can see the job, so `queued` precedes `started`.
    this.#bus.emit(jobEvent(record.id, { type: 'queued', position }));
    this.dispatch(record.model);
    return { ...record, position };
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const record = this.#store.job(id)?.record;
    // Read in the same tick as the record: the two always agree.
    return record && Object.assign({}, record, { event_seq: this.#bus.lastSeq(id) });
  }

  async position(id: string): Promise<number | undefined> {
    const job = this.#store.job(id);
    if (job?.record.status !== 'queued') return undefined;
    const list = this.#list(job.record.model);
    // Waiting out a back-off: everything now waiting runs first.
    return list.position(id) ?? (this.#backoffs.has(id) ? list.size : undefined);
  }

  async cancel(id: string): Promise<CancelOutcome> {
    const job = this.#store.job(id);
    if (!job) return 'not_found';
    if (isFinal(job.record.status)) return 'already_finished';
    const backoff = this.#backoffs.get(id);
    if (backoff) clearTimeout(backoff);
    if (this.#backoffs.delete(id) || this.#list(job.record.model).remove(id)) {
      await this.#lifecycle.finish(id, { status: 'canceled' });
      return 'canceled';
    }
    // Running (or claimed and about to start): its consumer aborts the handler.
    job.cancelRequested = true;
    this.#running.get(id)?.abort(cancelReason(id));
    return 'cancel_requested';
  }

  async list(query?: ListQuery): Promise<JobRecord[]> {
    return this.#store.list(query);
  }

  async depth(model?: string): Promise<number> {
    const lists = model === undefined ? [...this.#lists.values()] : [this.#list(model)];
    let waiting = lists.reduce((n, list) => n + list.size, 0);
    for (const id of this.#backoffs.keys()) {
      if (model === undefined || this.#store.job(id)?.record.model === model) waiting++;
    }
    return waiting;
  }

  attach(taker: JobTaker, model: string): void {
    const takers = this.#takers.get(model) ?? [];
    this.#takers.set(model, [...takers, taker]);
    this.dispatch(model);
  }

  detach(taker: JobTaker, model: string): void {
    const takers = this.#takers.get(model)?.filter((t) => t !== taker) ?? [];
    this.#takers.set(model, takers);
  }

  /**
   * Hands up to `limit` waiting jobs of `model` to consumers with free slots,
   * round robin; resolves with how many it handed out.
   */
  dispatch(model: string, limit = Infinity): number {
    const list = this.#list(model);
    const takers = this.#takers.get(model) ?? [];
    let handed = 0;
    while (list.size > 0 && handed < limit) {
      const i = takers.findIndex((t) => t.hasCapacity);
      if (i < 0) break;
      const taker = takers[i];
      // Move it to the back so the next job goes to another consumer.
      takers.push(...takers.splice(i, 1));
      const id = list.shift();
      if (id !== undefined) {
        handed += 1;
        taker.take(id, model);
      }
    }
    return handed;
  }

  async waitingModels(): Promise<string[]> {
    const models = new Set([...this.#lists].filter(([, list]) => list.size > 0).map(([model]) => model));
    for (const id of this.#backoffs.keys()) {
      const model = this.#store.job(id)?.record.model;
      if (model !== undefined) models.add(model);
    }
    return [...models];
  }

  async failUnheld(model: string, error: JobError): Promise<string[]> {
    const ids = this.#list(model).clear();
    for (const [id, timer] of this.#backoffs) {
      if (this.#store.job(id)?.record.model !== model) continue;
      clearTimeout(timer);
      this.#backoffs.delete(id);
      ids.push(id);
    }
    const ended: string[] = [];
    for (const id of ids) {
      if (await this.#lifecycle.finish(id, { status: 'failed', error })) ended.push(id);
    }
    return ended;
  }

  running(id: string, controller: AbortController | undefined): void {
    if (controller) this.#running.set(id, controller);
    else this.#running.delete(id);
  }

  failures(id: string): number {
    return this.#store.job(id)?.failures ?? 0;
  }

  /** After a retryable failure: back to `queued`, into the list again once the back-off has passed. */
  async retry(id: string, attempt: number, outcome: Extract<RunOutcome, { status: 'retry' }>): Promise<void> {
    const job = this.#store.job(id);
    if (!job || !(await this.#lifecycle.requeue(id, attempt))) return;
    job.failures++;
    const timer = setTimeout(() => {
      this.#backoffs.delete(id);
      if (this.#store.job(id)?.record.status !== 'queued') return;
      this.#list(job.record.model).push(id, job.record.priority);
      this.dispatch(job.record.model);
    }, outcome.delayMs);
    timer.unref();
    this.#backoffs.set(id, timer);
  }

  /** A job a closing consumer hands back: `queued` again, at the head of its priority. */
  async handBack(id: string, attempt: number): Promise<void> {
    const job = this.#store.job(id);
    if (!job) return;
    const list = this.#list(job.record.model);
    list.pushFront(id, job.record.priority);
    // The memory store transitions synchronously inside this call, before any dispatch can run.
    if (!(await this.#lifecycle.requeue(id, attempt, list.position(id)))) {
      list.remove(id);
      return;
    }
    this.dispatch(job.record.model);
  }

  close(): void {
    for (const timer of this.#backoffs.values()) clearTimeout(timer);
    this.#backoffs.clear();
  }

  #list(model: string): WaitingList {
    let list = this.#lists.get(model);
    if (!list) this.#lists.set(model, (list = new WaitingList()));
    return list;
  }
}
