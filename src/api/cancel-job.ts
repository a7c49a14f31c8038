import { GiraffeError } from '../errors';
import { isFinal, type JobRecord } from '../jobs';
import type { CancelOutcome, QueueDriver } from '../queue';
import { waitForJob } from './wait-for-job';

/**
 * How long `DELETE /v1/jobs/:id` waits for a running job to act on its cancel
 * before it answers `202`: a step boundary usually comes sooner.
 */
export const CANCEL_SETTLE_MS = 5000;

/**
 * Cancels a job and says what really happened (issue 17, item 10). A running
 * job is asked to stop; the answer waits (up to {@link CANCEL_SETTLE_MS}) for
 * its end, so a job that was already past its last step and ended
 * `succeeded` (or `failed`) is a `409`, not a `202` that turns out false. A
 * job whose cancel was accepted before it ended ends `canceled` (the worker
 * drops a result made after the cancel reached it), so a `202` is a promise
 * that holds: it means the job is still running and will end canceled.
 */
export async function cancelJob(
  driver: QueueDriver,
  job: JobRecord,
): Promise<{ status: 200 | 202; outcome: CancelOutcome; job: JobRecord }> {
  const outcome = await driver.queue.cancel(job.id);
  if (outcome === 'not_found') throw new GiraffeError('GIRAFFE_ERR_JOB_NOT_FOUND', `no job ${job.id}`);
  let now = (await driver.queue.get(job.id)) ?? job;
  if (outcome === 'cancel_requested' && !isFinal(now.status)) {
    now = (await waitForJob(driver, job.id, CANCEL_SETTLE_MS)) ?? now;
  }
  if (outcome === 'already_finished' || (isFinal(now.status) && now.status !== 'canceled')) {
    throw new GiraffeError(
      'GIRAFFE_ERR_JOB_FINISHED',
      `job ${job.id} already ended ${now.status}; there is nothing to cancel`,
      { status: now.status },
    );
  }
  return {
    status: isFinal(now.status) ? 200 : 202,
    outcome: isFinal(now.status) ? 'canceled' : outcome,
    job: now,
  };
}
