import { GiraffeError } from '../errors';

/** How long a client should wait before retrying when the queue is full. */
const QUEUE_FULL_RETRY_AFTER_S = 10;

/** What `enqueue` throws when a model's queue already holds `maxDepth` waiting jobs (503 + Retry-After). */
export function queueFullError(model: string, maxDepth: number): GiraffeError {
  return new GiraffeError(
    'GIRAFFE_ERR_QUEUE_FULL',
    `the queue for "${model}" holds ${maxDepth} waiting jobs; retry later`,
    { retry_after_s: QUEUE_FULL_RETRY_AFTER_S },
  );
}
