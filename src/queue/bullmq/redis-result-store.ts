import type { Redis } from 'ioredis';
import { GiraffeError } from '../../errors';
import { inputImageNames, type InputImageName } from '../../jobs';
import { isValidJobId } from '../job-lifecycle';
import type { ResultStore, StoredImage } from '../ports';
import { guarded } from './redis-connections';
import type { RedisKeys } from './redis-keys';

/**
 * Result images in Redis: one hash per job with the bytes under `<index>`
 * and the content type under `<index>:type`, expiring with the retention
 * time (renewed when the job finishes, so images live as long as the record).
 */
export class RedisResultStore implements ResultStore {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #retentionMs: number;

  constructor(redis: Redis, keys: RedisKeys, retentionMs: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#retentionMs = retentionMs;
  }

  async put(jobId: string, index: number, image: StoredImage): Promise<void> {
    if (!validAddress(jobId, index)) {
      throw new GiraffeError(
        'GIRAFFE_ERR_REQUEST_INVALID',
        `not a result address: ${String(jobId)}/${index}`,
      );
    }
    const key = this.#keys.result(jobId);
    return guarded('storing a result image', async () => {
      const replies = await this.#redis
        .multi()
        .hset(key, String(index), image.data, `${index}:type`, image.content_type)
        .pexpire(key, this.#retentionMs)
        .exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error('transaction aborted');
    });
  }

  async get(jobId: string, index: number): Promise<StoredImage | undefined> {
    if (!validAddress(jobId, index)) return undefined;
    const key = this.#keys.result(jobId);
    return guarded('reading a result image', async () => {
      const [data, type] = await Promise.all([
        this.#redis.hgetBuffer(key, String(index)),
        this.#redis.hget(key, `${index}:type`),
      ]);
      return data && type ? { data, content_type: type } : undefined;
    });
  }

  /**
   * In the same hash as the results (`input:<name>`), so the input expires and
   * is deleted with them; the finishing job renews the hash's TTL.
   */
  async putInput(jobId: string, name: InputImageName, image: StoredImage): Promise<void> {
    if (!isValidJobId(jobId) || !inputImageNames.includes(name)) {
      throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `not an input address: ${String(jobId)}/${name}`);
    }
    const key = this.#keys.result(jobId);
    return guarded('storing an input image', async () => {
      const replies = await this.#redis
        .multi()
        .hset(key, `input:${name}`, image.data, `input:${name}:type`, image.content_type)
        .pexpire(key, this.#retentionMs)
        .exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error('transaction aborted');
    });
  }

  async getInput(jobId: string, name: InputImageName): Promise<StoredImage | undefined> {
    if (!isValidJobId(jobId) || !inputImageNames.includes(name)) return undefined;
    const key = this.#keys.result(jobId);
    return guarded('reading an input image', async () => {
      const [data, type] = await Promise.all([
        this.#redis.hgetBuffer(key, `input:${name}`),
        this.#redis.hget(key, `input:${name}:type`),
      ]);
      return data && type ? { data, content_type: type } : undefined;
    });
  }

  async delete(jobId: string): Promise<void> {
    if (!isValidJobId(jobId)) return;
    return guarded('deleting result images', async () => {
      await this.#redis.del(this.#keys.result(jobId));
    });
  }
}

function validAddress(jobId: string, index: number): boolean {
  return isValidJobId(jobId) && Number.isInteger(index) && index >= 0;
}
