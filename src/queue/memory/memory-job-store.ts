import { GiraffeError } from '../../errors';
import { isFinal, type JobEventDraft, type JobPreview, type JobProgress, type JobRecord } from '../../jobs';
import type { FinalState, FinishFence, JobStateStore, StartedJob } from '../job-lifecycle';
import type { ListQuery } from '../ports';
import type { MemoryEventBus } from './memory-event-bus';

/** A job as the memory driver keeps it. */
export interface MemoryJob {
  record: JobRecord;
  /** Failed attempts so far (retries); hand-backs on shutdown do not count. */
  failures: number;
  cancelRequested: boolean;
  /** Set once final: when the record disappears. */
  expiresAt?: number;
}

/**
 * Job records in a Map (insertion order is creation order). Every method
 * runs synchronously to its end, so each transition and its event are atomic
 * with respect to everything else in the process.
 */
export class MemoryJobStore implements JobStateStore {
  readonly #jobs = new Map<string, MemoryJob>();
  readonly #bus: MemoryEventBus;
  readonly #retentionMs: number;
  readonly #sweep: NodeJS.Timeout;

  constructor(bus: MemoryEventBus, retentionMs: number) {
    this.#bus = bus;
    this.#retentionMs = retentionMs;
    this.#sweep = setInterval(() => this.#expire(), Math.min(Math.max(retentionMs / 2, 100), 600_000));
    this.#sweep.unref();
  }

  insert(record: JobRecord): MemoryJob {
    if (this.job(record.id)) {
      throw new GiraffeError('GIRAFFE_ERR_JOB_EXISTS', `job ${record.id} already exists`, {
        field: 'id',
        job_id: record.id,
      });
    }
    const job: MemoryJob = { record, failures: 0, cancelRequested: false };
    this.#jobs.set(record.id, job);
    return job;
  }

  /** The live job, or undefined when unknown or past retention. */
  job(id: string): MemoryJob | undefined {
    const job = this.#jobs.get(id);
    if (job?.expiresAt !== undefined && job.expiresAt <= Date.now()) {
      this.#jobs.delete(id);
      this.#bus.forget(id);
      return undefined;
    }
    return job;
  }

  list(query: ListQuery = {}): JobRecord[] {
    const limit = query.limit ?? 50;
    const out: JobRecord[] = [];
    const now = Date.now();
    for (const job of [...this.#jobs.values()].reverse()) {
      if (out.length >= limit) break;
      if (job.expiresAt !== undefined && job.expiresAt <= now) continue;
      if (query.owner !== undefined && job.record.owner !== query.owner) continue;
      out.push(job.record);
    }
    return out;
  }

  async start(id: string, worker: string, at: string): Promise<StartedJob | undefined> {
    const job = this.job(id);
    if (!job || isFinal(job.record.status)) return undefined;
    const { progress: _previous, ...rest } = job.record;
    job.record = { ...rest, status: 'running', started_at: at, worker, attempts: rest.attempts + 1 };
    this.#bus.emit({ type: 'started', worker, attempt: job.record.attempts, job_id: id, at });
    return { record: job.record, cancelRequested: job.cancelRequested };
  }

  async progress(id: string, attempt: number, progress: JobProgress, event: JobEventDraft): Promise<boolean> {
    const job = this.#owned(id, attempt);
    if (!job) return false;
    job.record = { ...job.record, progress };
    this.#bus.emit(event);
    return true;
  }

  async requeue(id: string, attempt: number, event: JobEventDraft): Promise<boolean> {
    const job = this.#owned(id, attempt);
    if (!job) return false;
    const { progress: _progress, worker: _worker, ...rest } = job.record;
    job.record = { ...rest, status: 'queued' };
    this.#bus.emit(event);
    return true;
  }

  async finish(id: string, final: FinalState, event: JobEventDraft, fence?: FinishFence): Promise<boolean> {
    const job = this.job(id);
    if (!job || isFinal(job.record.status)) return false;
    // No locks in one process: the attempt is the whole fence.
    if (fence && job.record.attempts !== fence.attempt) return false;
    const now = Date.now();
    job.record = { ...job.record, ...final, finished_at: new Date(now).toISOString() };
    job.expiresAt = now + this.#retentionMs;
    this.#bus.emit(event);
    return true;
  }

  async publishPreview(preview: JobPreview): Promise<void> {
    await this.#bus.publishPreview(preview);
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  /** The job while `attempt` is its running attempt. */
  #owned(id: string, attempt: number): MemoryJob | undefined {
    const job = this.job(id);
    return job?.record.status === 'running' && job.record.attempts === attempt ? job : undefined;
  }

  #expire(): void {
    const now = Date.now();
    for (const [id, job] of this.#jobs)
      if (job.expiresAt !== undefined && job.expiresAt <= now) {
        this.#jobs.delete(id);
        this.#bus.forget(id);
      }
  }
}
