import type { JobProgress } from '../jobs';

/**
 * A job's progress on its way to the event bus: one publication in flight,
 * and only the newest progress waiting behind it. While Redis is away a
 * publication waits for it; a chain of every step's publication would grow
 * without bound (and each held its step's latents: RSS went from 473 MB to
 * 3.6 GB in a minute, issue 17, item 2). The steps it replaces are dropped:
 * a watcher needs the latest progress, not each one it missed.
 */
export class LatestProgress {
  readonly #publish: (progress: JobProgress) => Promise<void>;
  #busy: Promise<void> | undefined;
  #next: JobProgress | undefined;

  constructor(publish: (progress: JobProgress) => Promise<void>) {
    this.#publish = publish;
  }

  offer(progress: JobProgress): void {
    if (this.#busy) {
      this.#next = progress;
      return;
    }
    this.#busy = this.#publish(progress)
      .catch(() => undefined)
      .finally(() => {
        this.#busy = undefined;
        const next = this.#next;
        this.#next = undefined;
        if (next) this.offer(next);
      });
  }

  /** Resolves once the newest progress offered so far is published (or given up on). */
  async flush(): Promise<void> {
    while (this.#busy) await this.#busy;
  }
}
