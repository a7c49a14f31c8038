import type { JobEvent } from '../../src/jobs';
import type { QueueDriver } from '../../src/queue';
import { until } from './processes';

/**
 * Waits until everything the bus had to deliver to `watcher` before now has
 * arrived: publishes a marker event for the job (a progress event at step
 * -1, which nothing else sends) and waits for it. A job's events are
 * delivered in order, so an unwanted event (a replay, a duplicate) would
 * have come before the marker — an event to wait on instead of a sleep.
 * Returns the events that came before the marker; the marker is removed.
 */
export async function drained(
  driver: QueueDriver,
  jobId: string,
  watcher: { readonly events: JobEvent[] },
): Promise<JobEvent[]> {
  await driver.events.publish(
    Object.assign(
      { type: 'progress' as const, step: -1, steps: 0, eta_ms: 0, elapsed_ms: 0 },
      { job_id: jobId, at: new Date().toISOString() },
    ),
  );
  const isMarker = (e: JobEvent) => e.type === 'progress' && e.step === -1;
  await until(`the marker event of ${jobId}`, () => watcher.events.some(isMarker));
  const at = watcher.events.findIndex(isMarker);
  watcher.events.splice(at, 1);
  return watcher.events.slice(0, at);
}
