import { isFinal, type JobRecord } from '../jobs';
import type { QueueDriver } from '../queue';

/**
 * Waits until a job reaches a final state or the timeout passes, then returns
 * its record. Subscribes before reading the record, so a job that finishes in
 * between is not missed.
 */
export async function waitForJob(
  driver: QueueDriver,
  id: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<JobRecord | undefined> {
  let wake: () => void = () => undefined;
  const woken = new Promise<void>((resolve) => (wake = resolve));
  const unsubscribe = await driver.events.subscribe(id, (event) => {
    if (event.type === 'succeeded' || event.type === 'failed' || event.type === 'canceled') wake();
  });
  const timer = setTimeout(wake, timeoutMs);
  signal?.addEventListener('abort', wake, { once: true });
  try {
    const first = await driver.queue.get(id);
    if (!first || isFinal(first.status)) return first;
    await woken;
    return await driver.queue.get(id);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', wake);
    await unsubscribe();
  }
}
