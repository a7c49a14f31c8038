import type { InputImageName } from '../../jobs';
import type { ResultStore, StoredImage } from '../ports';

/**
 * Result images in process memory, for an embedded driver given no data
 * directory (tests, library use). Expired images go on read and by a sweep.
 */
export class MemoryResultStore implements ResultStore {
  readonly #images = new Map<
    string,
    // Results by index (`0` …), inputs as `input:<name>`.
    Map<string, { readonly image: StoredImage; readonly expiresAt: number }>
  >();
  readonly #retentionMs: number;
  readonly #sweep: NodeJS.Timeout;

  constructor(retentionMs: number) {
    this.#retentionMs = retentionMs;
    this.#sweep = setInterval(() => this.#expire(), Math.min(Math.max(retentionMs / 2, 100), 600_000));
    this.#sweep.unref();
  }

  async put(jobId: string, index: number, image: StoredImage): Promise<void> {
    this.#put(jobId, String(index), image);
  }

  async get(jobId: string, index: number): Promise<StoredImage | undefined> {
    return this.#get(jobId, String(index));
  }

  async putInput(jobId: string, name: InputImageName, image: StoredImage): Promise<void> {
    this.#put(jobId, `input:${name}`, image);
  }

  async getInput(jobId: string, name: InputImageName): Promise<StoredImage | undefined> {
    return this.#get(jobId, `input:${name}`);
  }

  #put(jobId: string, index: string, image: StoredImage): void {
    let job = this.#images.get(jobId);
    if (!job) this.#images.set(jobId, (job = new Map()));
    // A copy: the caller may reuse its buffer.
    const stored = { data: Buffer.from(image.data), content_type: image.content_type };
    job.set(index, { image: stored, expiresAt: Date.now() + this.#retentionMs });
  }

  #get(jobId: string, index: string): StoredImage | undefined {
    const entry = this.#images.get(jobId)?.get(index);
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry.image;
    this.#expire();
    return undefined;
  }

  async delete(jobId: string): Promise<void> {
    this.#images.delete(jobId);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
  }

  #expire(): void {
    const now = Date.now();
    for (const [jobId, job] of this.#images) {
      for (const [index, entry] of job) if (entry.expiresAt <= now) job.delete(index);
      if (job.size === 0) this.#images.delete(jobId);
    }
  }
}
