import type { CheckpointStore } from '../ports';

/**
 * Checkpoints in process memory (embedded mode): they let a retried job
 * resume within this process; they die with it, as its queue does.
 */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly #checkpoints = new Map<string, { readonly data: Buffer; readonly timer: NodeJS.Timeout }>();
  readonly #retentionMs: number;

  constructor(retentionMs: number) {
    this.#retentionMs = retentionMs;
  }

  async save(jobId: string, data: Buffer): Promise<void> {
    clearTimeout(this.#checkpoints.get(jobId)?.timer);
    const timer = setTimeout(() => this.#checkpoints.delete(jobId), this.#retentionMs);
    timer.unref();
    // A copy: the caller may reuse its buffer.
    this.#checkpoints.set(jobId, { data: Buffer.from(data), timer });
  }

  async load(jobId: string): Promise<Buffer | undefined> {
    return this.#checkpoints.get(jobId)?.data;
  }

  async delete(jobId: string): Promise<void> {
    clearTimeout(this.#checkpoints.get(jobId)?.timer);
    this.#checkpoints.delete(jobId);
  }

  close(): void {
    for (const { timer } of this.#checkpoints.values()) clearTimeout(timer);
    this.#checkpoints.clear();
  }
}
