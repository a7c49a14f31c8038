import type { Logger } from 'pino';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointOptions,
  type DenoiseCheckpoint,
} from '../pipeline';
import type { CheckpointStore } from '../queue';

/**
 * One job's checkpoints on a worker: reads the one a previous attempt left,
 * and saves new ones in order without ever holding up the denoising thread.
 * Only the newest waiting checkpoint is kept: an older one is worthless once
 * a newer exists.
 */
export class JobCheckpoints {
  #writing: Promise<void> = Promise.resolve();
  #next: DenoiseCheckpoint | undefined;
  #busy = false;

  constructor(
    private readonly store: CheckpointStore,
    private readonly jobId: string,
    private readonly intervalMs: number,
    private readonly logger?: Logger,
  ) {}

  /** The checkpoint an earlier attempt saved, if it can be read. */
  async load(): Promise<DenoiseCheckpoint | undefined> {
    let data: Buffer | undefined;
    try {
      data = await this.store.load(this.jobId);
    } catch (err) {
      this.logger?.warn({ err }, 'could not read the job checkpoint; starting from the first step');
      return undefined;
    }
    if (data === undefined) return undefined;
    try {
      return decodeCheckpoint(data);
    } catch (err) {
      this.logger?.warn({ err }, 'unreadable job checkpoint; starting from the first step');
      return undefined;
    }
  }

  /** What the pipeline takes as `checkpoint`. */
  get options(): CheckpointOptions {
    return { intervalMs: this.intervalMs, save: (cp) => this.#offer(cp) };
  }

  #offer(cp: DenoiseCheckpoint): void {
    this.#next = cp;
    if (this.#busy) return;
    this.#busy = true;
    this.#writing = (async () => {
      while (this.#next !== undefined) {
        const cp = this.#next;
        this.#next = undefined;
        try {
          await this.store.save(this.jobId, encodeCheckpoint(cp));
        } catch (err) {
          this.logger?.warn({ err, step: cp.step }, 'could not save a job checkpoint');
        }
      }
      this.#busy = false;
    })();
  }

  /** Resolves once every checkpoint offered so far is saved (or failed to be). */
  async flush(): Promise<void> {
    while (this.#busy) await this.#writing;
  }

  /** The job is over: its checkpoint is of no more use. */
  async discard(): Promise<void> {
    await this.flush();
    await this.store.delete(this.jobId).catch((err: unknown) => {
      this.logger?.warn({ err }, 'could not delete the job checkpoint; it expires with the job');
    });
  }
}
