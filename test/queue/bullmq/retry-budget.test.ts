import { Worker } from 'bullmq';
import Redis from 'ioredis';
import { RedisKeys } from '../../../src/queue/bullmq/redis-keys';
import { REDIS_URL } from '../../helpers/redis';
import { driverHarness, request, waitFor } from '../queue-fixtures';

// JOB_MAX_ATTEMPTS is one budget: runs that failed and runs lost with their worker (stalls) both
// spend it. BullMQ counts the two apart (attempts vs maxStalledCount), so 3 attempts allowed 2
// stalls and then 3 failures: 5 runs.
describe('the retry budget (bullmq driver)', () => {
  const harness = driverHarness('bullmq with Redis results');
  const connections: Redis[] = [];
  const rawWorkers: Worker[] = [];

  function connect(): Redis {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    connections.push(redis);
    return redis;
  }

  afterEach(async () => {
    await Promise.all(rawWorkers.splice(0).map((w) => w.close(true)));
    await Promise.all(connections.splice(0).map((c) => c.quit()));
  });

  /**
   * A worker takes the job and dies (never renews its 200 ms lock, never reports); once its
   * lock is gone, BullMQ's stalled-job check (run twice: the first pass marks, the second moves)
   * puts the job back in the queue, counting a stall — what a SIGKILLed worker leaves
   * (test/faults/worker-sigkill.test.ts does it with real processes).
   */
  async function stallOnce(model: string, jobId: string, n: number, maxAttempts: number): Promise<void> {
    const worker = new Worker(`jobs-${model}`, null, {
      connection: connect(),
      prefix: harness.prefix,
      lockDuration: 200,
      stalledInterval: 1,
      // As the driver's own consumers set it.
      maxStalledCount: maxAttempts - 1,
      autorun: false,
    });
    rawWorkers.push(worker);
    const taken = await worker.getNextJob(`dead-token-${n}`, { block: false });
    expect(taken?.id).toBe(jobId);
    const redis = connect();
    const lock = new RedisKeys(harness.prefix).bullmq(model, `${jobId}:lock`);
    await waitFor('the dead worker’s lock to expire', async () => (await redis.exists(lock)) === 0);
    const checker = worker as unknown as { moveStalledJobsToWait(): Promise<unknown> };
    const job = new RedisKeys(harness.prefix).bullmq(model, jobId);
    await waitFor(`stall ${n + 1} to be counted`, async () => {
      await checker.moveStalledJobsToWait();
      return Number(await redis.hget(job, 'stc')) === n + 1;
    });
  }

  it('JOB_MAX_ATTEMPTS=3 with two stalls behind it leaves one run, then the job fails', async () => {
    const driver = harness.make({ maxAttempts: 3, backoffMs: 10 });
    const job = await driver.queue.enqueue({ model: 'm1', request });
    await stallOnce('m1', job.id, 0, 3);
    await stallOnce('m1', job.id, 1, 3);
    let runs = 0;
    driver.consume(
      'm1',
      async () => {
        runs++;
        throw new Error('boom');
      },
      { workerId: 'w' },
    );
    const failed = await waitFor('the job to fail', async () => {
      const record = await driver.queue.get(job.id);
      return record?.status === 'failed' ? record : undefined;
    });
    expect(runs).toBe(1);
    expect(failed.error?.message).toBe('boom');
  });

  it('JOB_MAX_ATTEMPTS=2 with one stall behind it: one run, which fails for good', async () => {
    const driver = harness.make({ maxAttempts: 2, backoffMs: 10 });
    const job = await driver.queue.enqueue({ model: 'm1', request });
    await stallOnce('m1', job.id, 0, 2);
    let runs = 0;
    driver.consume(
      'm1',
      async () => {
        runs++;
        throw new Error('boom');
      },
      { workerId: 'w' },
    );
    await waitFor('the job to fail', async () => (await driver.queue.get(job.id))?.status === 'failed');
    // One stall + one failed run = 2 attempts.
    expect(runs).toBe(1);
  });

  it('without stalls the failures alone get the whole budget', async () => {
    const driver = harness.make({ maxAttempts: 3, backoffMs: 10 });
    const job = await driver.queue.enqueue({ model: 'm1', request });
    let runs = 0;
    driver.consume(
      'm1',
      async () => {
        runs++;
        throw new Error('boom');
      },
      { workerId: 'w' },
    );
    await waitFor('the job to fail', async () => (await driver.queue.get(job.id))?.status === 'failed');
    expect(runs).toBe(3);
  });
});
