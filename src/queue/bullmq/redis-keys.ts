/**
 * Every Redis key and channel giraffe uses. All start with the prefix, a
 * Cluster hash tag like `{giraffe}`, so they share one slot and Lua scripts
 * may touch any of them together with BullMQ's own keys.
 */
export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Hash: the job record. */
  job(id: string): string {
    return `${this.prefix}:job:${id}`;
  }

  /** Sorted set of every job id, scored by creation. */
  get jobs(): string {
    return `${this.prefix}:jobs`;
  }

  /** Sorted set of one owner's job ids (`_`: jobs made without an API key). */
  owner(owner: string | null): string {
    return `${this.prefix}:owner:${owner ?? '_'}`;
  }

  /** Counter that orders jobs created in the same millisecond. */
  get seq(): string {
    return `${this.prefix}:seq`;
  }

  /** Set of models that ever had a job, for depth across all models. */
  get models(): string {
    return `${this.prefix}:models`;
  }

  /** String: a running job's latest denoising checkpoint. */
  checkpoint(id: string): string {
    return `${this.prefix}:checkpoint:${id}`;
  }

  /** Hash: a job's result images (field `<index>`) and content types (`<index>:type`). */
  result(id: string): string {
    return `${this.prefix}:result:${id}`;
  }

  /** String (JSON) with a TTL: one worker's announcement. */
  worker(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }

  /** Hash: model → since when (ms) it has had waiting jobs and no live worker (see noteUnserved). */
  get unserved(): string {
    return `${this.prefix}:unserved`;
  }

  /** Set of worker ids that announced themselves. */
  get workers(): string {
    return `${this.prefix}:workers`;
  }

  /** Pub/sub channel of one job's events. */
  events(id: string): string {
    return `${this.prefix}:events:${id}`;
  }

  /** Stream: a job's numbered events (entry id `0-<seq>`), kept for reconnecting stream clients. */
  stream(id: string): string {
    return `${this.prefix}:stream:${id}`;
  }

  /** String with a TTL: a job's latest preview, encoded as on the channel. */
  preview(id: string): string {
    return `${this.prefix}:preview:${id}`;
  }

  /** Pub/sub channel that names every job that ends (for process-wide bookkeeping: metrics). */
  get ended(): string {
    return `${this.prefix}:ended`;
  }

  /** Pub/sub channel on which cancellations of running jobs reach every consumer. */
  get cancel(): string {
    return `${this.prefix}:cancel`;
  }

  /** BullMQ queue name of a model (BullMQ adds the prefix itself). */
  queueName(model: string): string {
    return `jobs-${model}`;
  }

  /** One of BullMQ's keys of a model's queue, e.g. `wait` or `prioritized`. */
  bullmq(model: string, type: string): string {
    return `${this.prefix}:${this.queueName(model)}:${type}`;
  }
}
