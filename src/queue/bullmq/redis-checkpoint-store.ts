import type { Redis } from 'ioredis';
import { isValidJobId } from '../job-lifecycle';
import type { CheckpointStore } from '../ports';
import { guarded } from './redis-connections';
import type { RedisKeys } from './redis-keys';

/** Checkpoints in Redis, one string per job, expiring with the job's retention. */
export class RedisCheckpointStore implements CheckpointStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly retentionMs: number,
  ) {}

  async save(jobId: string, data: Buffer): Promise<void> {
    if (!isValidJobId(jobId)) return;
    await guarded('saving a checkpoint', () =>
      this.redis.set(this.keys.checkpoint(jobId), data, 'PX', this.retentionMs),
    );
  }

  async load(jobId: string): Promise<Buffer | undefined> {
    if (!isValidJobId(jobId)) return undefined;
    const data = await guarded('reading a checkpoint', () =>
      this.redis.getBuffer(this.keys.checkpoint(jobId)),
    );
    return data ?? undefined;
  }

  async delete(jobId: string): Promise<void> {
    if (!isValidJobId(jobId)) return;
    await guarded('deleting a checkpoint', () => this.redis.del(this.keys.checkpoint(jobId)));
  }
}
