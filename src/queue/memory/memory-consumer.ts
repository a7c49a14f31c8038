import { shutdownReason, type JobLifecycle } from '../job-lifecycle';
import type { ConsumerOptions, JobConsumer, JobHandler } from '../ports';
import type { JobTaker, MemoryJobQueue } from './memory-job-queue';

interface Run {
  readonly controller: AbortController;
  /** The record's attempt number once started. */
  attempt?: number;
  /** Handed back on close: whatever the handler does now is ignored. */
  handedBack: boolean;
  done?: Promise<void>;
}

/**
 * Runs the jobs of its models in this process, up to `concurrency` at once
 * across all of them. When a slot frees it takes the next job from the
 * models in turn, starting after the model of the job that just ended, so a
 * long queue of one model cannot starve another's.
 */
export class MemoryConsumer implements JobConsumer, JobTaker {
  readonly #models: string[] = [];
  readonly #queue: MemoryJobQueue;
  readonly #lifecycle: JobLifecycle;
  readonly #handler: JobHandler;
  readonly #workerId: string;
  readonly #concurrency: number;
  readonly #runs = new Map<string, Run>();
  #closing: Promise<void> | undefined;

  constructor(
    queue: MemoryJobQueue,
    lifecycle: JobLifecycle,
    models: readonly string[],
    handler: JobHandler,
    options: ConsumerOptions,
  ) {
    this.#queue = queue;
    this.#lifecycle = lifecycle;
    this.#handler = handler;
    this.#workerId = options.workerId;
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    for (const model of models) this.serve(model);
  }

  serve(model: string): void {
    if (this.#closing !== undefined || this.#models.includes(model)) return;
    this.#models.push(model);
    this.#queue.attach(this, model);
  }

  get running(): readonly string[] {
    return [...this.#runs.keys()];
  }

  get hasCapacity(): boolean {
    return this.#closing === undefined && this.#runs.size < this.#concurrency;
  }

  take(id: string, model: string): void {
    const run: Run = { controller: new AbortController(), handedBack: false };
    this.#runs.set(id, run);
    this.#queue.running(id, run.controller);
    run.done = this.#execute(id, run).finally(() => {
      this.#runs.delete(id);
      if (!run.handedBack) this.#queue.running(id, undefined);
      this.#dispatchAfter(model);
    });
  }

  /** Fills free slots one job per model at a time, the models in turn from the one after `model`. */
  #dispatchAfter(model: string): void {
    const models = this.#models;
    const start = models.indexOf(model) + 1;
    let progressed = true;
    while (progressed && this.hasCapacity) {
      progressed = false;
      for (let k = 0; k < models.length && this.hasCapacity; k++) {
        if (this.#queue.dispatch(models[(start + k) % models.length], 1) > 0) progressed = true;
      }
    }
  }

  close(graceMs = 0): Promise<void> {
    this.#closing ??= (async () => {
      for (const model of this.#models) this.#queue.detach(this, model);
      const runs = [...this.#runs.values()];
      if (runs.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([Promise.allSettled(runs.map((r) => r.done)), grace]);
      clearTimeout(timer);
      for (const [id, run] of this.#runs) {
        run.handedBack = true;
        this.#queue.running(id, undefined);
        run.controller.abort(shutdownReason());
        if (run.attempt !== undefined) await this.#queue.handBack(id, run.attempt);
      }
    })();
    return this.#closing;
  }

  async #execute(id: string, run: Run): Promise<void> {
    const started = await this.#lifecycle.start(id, this.#workerId);
    if (!started) return;
    run.attempt = started.record.attempts;
    // Closed while the claim was in flight: close() could not hand it back yet.
    if (run.handedBack) return this.#queue.handBack(id, run.attempt);
    const outcome = await this.#lifecycle.run(this.#handler, started, run.controller.signal, {
      failuresBefore: this.#queue.failures(id),
    });
    if (run.handedBack) return;
    if (outcome.status === 'retry') await this.#queue.retry(id, run.attempt, outcome);
    else await this.#lifecycle.finish(id, outcome);
  }
}
