import * as os from 'node:os';
import type { QueueDriver } from '../../dist/queue';

/**
 * Announces a worker serving `models` in the queue's registry, and keeps it
 * announced until the result is called. For benches that measure admission
 * with no worker, or whose own consumer stands in for one: the API refuses
 * jobs for a model no worker serves (503 GIRAFFE_ERR_MODEL_UNSERVED).
 */
export async function announceWorker(
  driver: QueueDriver,
  models: readonly string[],
  id: string,
): Promise<() => Promise<void>> {
  const every = 5000;
  const beat = () =>
    driver.workers.heartbeat(
      {
        id,
        host: os.hostname(),
        pid: process.pid,
        models,
        device: 'cpu',
        concurrency: 1,
        started_at: new Date().toISOString(),
        current_jobs: [],
      },
      every * 3,
    );
  await beat();
  const timer = setInterval(() => void beat().catch(() => undefined), every);
  return async () => {
    clearInterval(timer);
    await driver.workers.remove(id).catch(() => undefined);
  };
}
