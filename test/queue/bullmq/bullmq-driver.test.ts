import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import Redis from 'ioredis';
import { isGiraffeError } from '../../../src/errors';
import { createQueueDriver } from '../../../src/queue';
import { jobEvent, newJobRecord } from '../../../src/queue/job-lifecycle';
import { RedisJobStore } from '../../../src/queue/bullmq/redis-job-store';
import { RedisKeys } from '../../../src/queue/bullmq/redis-keys';
import { REDIS_URL } from '../../helpers/redis';
import { aborted, drained, driverHarness, recordEvents, request, resultOf, waitFor } from '../queue-fixtures';

describe('bullmq driver', () => {
  const harness = driverHarness('bullmq with Redis results');
  const connections: Redis[] = [];
  const rawWorkers: Worker[] = [];

  function connect(): Redis {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    connections.push(redis);
    return redis;
  }

  /** A worker that takes a job and dies: never renews its lock, never reports. */
  async function takeAndDie(model: string, lockDuration: number): Promise<string> {
    const worker = new Worker(`jobs-${model}`, null, {
      connection: connect(),
      prefix: harness.prefix,
      lockDuration,
      autorun: false,
    });
    rawWorkers.push(worker);
    const job = await worker.getNextJob('dead-token', { block: false });
    if (!job?.id) throw new Error('the dying worker found no job');
    return job.id;
  }

  /**
   * Waits for BullMQ's stalled check of `model`'s queue to run `times` more
   * times (each run sets its `stalled-check` key afresh): what would hand a
   * job to another run, or run it twice, has had its chance.
   */
  async function stalledChecks(model: string, times: number): Promise<void> {
    const redis = connect();
    const key = `${harness.prefix}:jobs-${model}:stalled-check`;
    let ttl = await redis.pttl(key);
    let seen = 0;
    await waitFor(`${times} stalled checks of jobs-${model}`, async () => {
      const now = await redis.pttl(key);
      if (now > ttl) seen += 1;
      ttl = now;
      return seen >= times;
    });
  }

  afterEach(async () => {
    await Promise.all(rawWorkers.splice(0).map((w) => w.close(true)));
    await Promise.all(connections.splice(0).map((c) => c.quit()));
  });

  // First: ioredis keeps a 2 s timer after disconnecting a connection that never came up.
  it('answers 503-style errors quickly, and ping false, when Redis is away', async () => {
    const driver = createQueueDriver({ redisUrl: 'redis://127.0.0.1:1', prefix: harness.prefix });
    try {
      expect(await driver.ping()).toBe(false);
      const err: unknown = await driver.queue.enqueue({ model: 'm1', request }).catch((e: unknown) => e);
      expect(isGiraffeError(err, 'GIRAFFE_ERR_QUEUE_UNAVAILABLE')).toBe(true);
      expect((err as { status: number }).status).toBe(503);
      await expect(driver.queue.get(randomUUID())).rejects.toMatchObject({
        code: 'GIRAFFE_ERR_QUEUE_UNAVAILABLE',
      });
      await expect(driver.workers.list()).rejects.toMatchObject({ code: 'GIRAFFE_ERR_QUEUE_UNAVAILABLE' });
    } finally {
      await driver.close();
    }
  }, 20_000);

  it('keeps every key under the prefix, with the record expiring after it finishes', async () => {
    const driver = harness.make({ retentionMs: 60_000 });
    driver.consume('m1', async (job) => resultOf(job), { workerId: 'w' });
    const job = await driver.queue.enqueue({ model: 'm1', request, owner: 'k' });
    await waitFor('success', async () => (await driver.queue.get(job.id))?.status === 'succeeded');
    await driver.results.put(job.id, 0, { data: Buffer.from('x'), content_type: 'image/png' });
    await driver.workers.heartbeat(
      {
        id: 'w',
        host: 'h',
        pid: 1,
        models: ['m1'],
        device: 'cpu',
        concurrency: 1,
        started_at: '',
        current_jobs: [],
      },
      5000,
    );

    const redis = connect();
    const keys = (await redis.keys('*')).filter((k) => k.includes(harness.prefix.slice(1, -1)));
    expect(keys.length).toBeGreaterThan(5);
    expect(keys.filter((k) => !k.startsWith(`${harness.prefix}:`))).toEqual([]);
    const k = new RedisKeys(harness.prefix);
    expect(keys).toEqual(
      expect.arrayContaining([k.job(job.id), k.jobs, k.owner('k'), k.result(job.id), k.worker('w')]),
    );
    expect(keys.some((key) => key.startsWith(`${harness.prefix}:jobs-m1:`))).toBe(true);
    const ttl = await redis.pttl(k.job(job.id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('recovers a job whose worker died once its lock expires', async () => {
    const driver = harness.make({ maxAttempts: 3 });
    const id = randomUUID();
    const watch = await recordEvents(driver, id);
    await driver.queue.enqueue({ id, model: 'm1', request });
    expect(await takeAndDie('m1', 300)).toBe(id);
    expect(await driver.queue.position(id)).toBeUndefined(); // held by the dead worker

    driver.consume('m1', async (job) => resultOf(job), { workerId: 'rescuer', lockDurationMs: 300 });
    expect((await watch.final()).type).toBe('succeeded');
    expect(await driver.queue.get(id)).toMatchObject({ status: 'succeeded', worker: 'rescuer', attempts: 1 });
  });

  it('fails a job that stalls more often than the attempts allow, without running it again', async () => {
    const driver = harness.make({ maxAttempts: 1 });
    const id = randomUUID();
    const watch = await recordEvents(driver, id);
    await driver.queue.enqueue({ id, model: 'm1', request });
    await takeAndDie('m1', 300);

    let ran = false;
    driver.consume('m1', async (job) => ((ran = true), resultOf(job)), {
      workerId: 'w',
      lockDurationMs: 300,
    });
    expect(await watch.final()).toMatchObject({
      type: 'failed',
      error: { code: 'GIRAFFE_ERR_GENERATION_FAILED' },
    });
    expect((await driver.queue.get(id))?.error?.message).toMatch(/stalled/);
    expect(ran).toBe(false);
  });

  it('never lets a worker that lost its lock report a result', async () => {
    const driver = harness.make({ maxAttempts: 3 });
    const id = randomUUID();
    const watch = await recordEvents(driver, id);
    const signals: AbortSignal[] = [];
    let staleReturned = false;
    const consumer = driver.consume(
      'm1',
      async (job, context) => {
        signals.push(context.signal);
        if (signals.length > 1) return resultOf(job);
        await aborted(context.signal);
        staleReturned = true;
        // Ignores the abort and reports anyway: BullMQ must refuse it.
        return { ...resultOf(job), parameters: 'from the attempt that lost its lock' };
      },
      { workerId: 'w', lockDurationMs: 400 },
    );
    await driver.queue.enqueue({ id, model: 'm1', request });
    await waitFor('the first attempt to run', () => consumer.running.includes(id));

    // What a long GC pause or a network partition does: the lock is gone.
    await connect().del(`${harness.prefix}:jobs-m1:${id}:lock`);
    await waitFor('the first attempt to notice', () => staleReturned);
    expect(signals[0].aborted).toBe(true);

    // The stalled check returns the job to the queue and it runs again.
    const final = await watch.final();
    expect(final).toMatchObject({ type: 'succeeded', result: { parameters: request.prompt } });
    expect(await driver.queue.get(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(signals).toHaveLength(2);
    // Two more stalled checks after the end, and every event published until now: one success.
    await stalledChecks('m1', 2);
    expect((await drained(driver, id, watch)).filter((e) => e.type === 'succeeded')).toHaveLength(1);
    expect(signals).toHaveLength(2);
  });

  it('loses nothing when a worker dies after recording its result but before BullMQ heard it', async () => {
    const driver = harness.make();
    const id = randomUUID();
    const watch = await recordEvents(driver, id);
    // A worker takes the job, records its result with its own fence, and dies before completing
    // the BullMQ job: what a SIGKILL between the two steps leaves behind.
    await driver.queue.enqueue({ id, model: 'm1', request });
    await takeAndDie('m1', 300);
    const token = 'dead-token'; // takeAndDie's
    const store = new RedisJobStore(connect(), new RedisKeys(harness.prefix), 60_000);
    const started = await store.start(id, 'dead', new Date().toISOString());
    const result = resultOf(started!.record);
    const lock = { key: `${harness.prefix}:jobs-m1:${id}:lock`, token };
    const succeeded = jobEvent(id, { type: 'succeeded', result });
    // A wrong token or attempt is refused; the worker's own fence is accepted.
    expect(
      await store.finish(id, { status: 'succeeded', result }, succeeded, {
        attempt: 1,
        lock: { ...lock, token: 'x' },
      }),
    ).toBe(false);
    expect(await store.finish(id, { status: 'succeeded', result }, succeeded, { attempt: 2, lock })).toBe(
      false,
    );
    expect(await store.finish(id, { status: 'succeeded', result }, succeeded, { attempt: 1, lock })).toBe(
      true,
    );

    // The stalled BullMQ job comes back; the next claim finds the record ended and runs nothing.
    let ran = false;
    driver.consume('m1', async (job) => ((ran = true), resultOf(job)), {
      workerId: 'w',
      lockDurationMs: 300,
    });
    await waitFor(
      'the stalled job to be drained',
      async () => (await driver.queue.depth('m1')) === 0 && !(await connect().exists(lock.key)),
      10_000,
    );
    await stalledChecks('m1', 2);
    expect(ran).toBe(false);
    expect(await driver.queue.get(id)).toMatchObject({ status: 'succeeded', attempts: 1, result });
    expect(watch.types().filter((t) => t === 'succeeded' || t === 'failed')).toEqual(['succeeded']);
  });

  it('ends a job exactly once when finalisations race, publishing one final event', async () => {
    const keys = new RedisKeys(harness.prefix);
    const stores = [connect(), connect(), connect()].map((r) => new RedisJobStore(r, keys, 60_000));
    const driver = harness.make();
    const record = newJobRecord({ model: 'm1', request });
    await stores[0].create(record);
    const watch = await recordEvents(driver, record.id);
    const started = await stores[1].start(record.id, 'w', new Date().toISOString());
    expect(started?.record).toMatchObject({ status: 'running', attempts: 1 });

    const outcomes = await Promise.all(
      stores.flatMap((store, i) => [
        store.finish(
          record.id,
          { status: 'succeeded', result: resultOf(record) },
          jobEvent(record.id, { type: 'succeeded', result: resultOf(record) }),
        ),
        store.finish(record.id, { status: 'canceled' }, jobEvent(record.id, { type: 'canceled' })),
        store.finish(
          record.id,
          { status: 'failed', error: { code: 'X', message: String(i) } },
          jobEvent(record.id, { type: 'failed', error: { code: 'X', message: String(i) } }),
        ),
      ]),
    );
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    const final = await watch.final();
    // `queued` and `started` come from the start script (the job was never announced), then one final
    // event: everything published before the marker has arrived.
    expect((await drained(driver, record.id, watch)).map((e) => e.type)).toEqual([
      'queued',
      'started',
      final.type,
    ]);
    expect((await stores[2].get(record.id))?.status).toBe(final.type);
    // A stale attempt can neither requeue nor overwrite progress.
    expect(await stores[0].requeue(record.id, 1, jobEvent(record.id, { type: 'queued' }))).toBe(false);
  });
});
