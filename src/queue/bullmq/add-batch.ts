import type { JobsOptions } from 'bullmq';

/** What the batch needs of a BullMQ queue whose jobs carry no data (the driver's). */
interface BulkAdder {
  add(name: string, data: Record<string, never>, opts: JobsOptions): Promise<unknown>;
  addBulk(jobs: { name: string; data: Record<string, never>; opts: JobsOptions }[]): Promise<unknown>;
}

interface PendingAdd {
  readonly opts: JobsOptions;
  resolve(): void;
  reject(err: unknown): void;
}

/** Jobs per addBulk: bounds how long one transaction holds Redis. */
const MAX_BATCH = 128;

/**
 * Adds the jobs one queue is asked for in the same tick with one `addBulk`
 * (one MULTI of BullMQ's own add scripts) instead of one round trip each;
 * a lone job with a plain `add`.
 * A burst of enqueues (many API requests, or the records of one
 * `ScriptBatch` reply) reaches BullMQ as a few commands. A lone add waits
 * for nothing but the end of the current tick. The batch is one
 * transaction: if it fails, every add in it rejects and its caller discards
 * its record.
 */
export class AddBatch {
  readonly #queue: BulkAdder;
  readonly #name: string;
  #pending: PendingAdd[] = [];

  constructor(queue: BulkAdder, name: string) {
    this.#queue = queue;
    this.#name = name;
  }

  add(opts: JobsOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) process.nextTick(() => this.#flush());
      this.#pending.push({ opts, resolve, reject });
    });
  }

  #flush(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (let i = 0; i < pending.length; i += MAX_BATCH) void this.#send(pending.slice(i, i + MAX_BATCH));
  }

  async #send(adds: readonly PendingAdd[]): Promise<void> {
    try {
      // A lone add goes as itself: addBulk wraps it in a MULTI, three commands for one.
      if (adds.length === 1) await this.#queue.add(this.#name, {}, adds[0].opts);
      else await this.#queue.addBulk(adds.map((a) => ({ name: this.#name, data: {}, opts: a.opts })));
    } catch (err) {
      for (const a of adds) a.reject(err);
      return;
    }
    for (const a of adds) a.resolve();
  }
}
