import type { JobProgress } from '../jobs';

/** Progress updates kept waiting behind the one in flight; older ones are dropped beyond it. */
export const MAX_PENDING_PROGRESS = 1024;

/**
 * A job's progress on its way to the event bus, in step order: one
 * publication in flight and at most {@link MAX_PENDING_PROGRESS} of the
 * newest updates waiting behind it, as plain numbers (a few dozen bytes
 * each). While Redis is away a publication waits for it; the chain of
 * publications it replaces kept each step's closure, and with it the step's
 * latents (RSS went from 473 MB to 3.6 GB, issue 17, item 2). Beyond the
 * bound the oldest waiting updates are dropped: a watcher needs the latest
 * progress, not each one it missed. A job has at most 150 steps, so a bus
 * that answers, however slowly, loses none.
 */
export class LatestProgress {
  readonly #publish: (progress: JobProgress) => Promise<void>;
  #busy: Promise<void> | undefined;
  #waiting: JobProgress[] = [];

  constructor(publish: (progress: JobProgress) => Promise<void>) {
    this.#publish = publish;
  }

  offer(progress: JobProgress): void {
    if (this.#busy) {
      this.#waiting.push(progress);
      if (this.#waiting.length > MAX_PENDING_PROGRESS) this.#waiting.shift();
      return;
    }
    this.#busy = this.#publish(progress)
      .catch(() => undefined)
      .finally(() => {
        this.#busy = undefined;
        const next = this.#waiting.shift();
        if (next) this.offer(next);
      });
  }

  /** Resolves once every update still waiting has been published (or given up on). */
  async flush(): Promise<void> {
    while (this.#busy) await this.#busy;
  }
}
