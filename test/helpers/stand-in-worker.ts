import type { QueueDriver } from '../../src/queue';

/**
 * Announces a worker for `models` that takes no jobs, as a live worker busy
 * with other work would look: the API accepts jobs for those models (it
 * refuses jobs for models no live worker serves) and they wait in the queue.
 * For tests of queued jobs: depth limits, idempotency, positions.
 */
export function announceStandInWorker(
  driver: QueueDriver,
  models: readonly string[],
  id = 'stand-in-worker',
): Promise<void> {
  return driver.workers.heartbeat(
    {
      id,
      host: 'test',
      pid: process.pid,
      models,
      device: 'cpu',
      concurrency: 1,
      started_at: new Date().toISOString(),
      current_jobs: [],
    },
    3_600_000,
  );
}
