import { randomUUID } from 'node:crypto';
import { GiraffeError } from '../../src/errors';
import type { JobRecord } from '../../src/jobs';
import type { JobContext, JobHandler } from '../../src/queue';
import {
  aborted,
  driverHarness,
  driverKinds,
  gate,
  recordEvents,
  request,
  resultOf,
  sleep,
  waitFor,
  drained,
} from './queue-fixtures';

const succeed: JobHandler = async (job) => resultOf(job);

describe.each(driverKinds)('queue driver contract: %s', (kind) => {
  const harness = driverHarness(kind);

  describe('event history', () => {
    it('keeps about the newest N events; a request reaching past them gets undefined, not a gap', async () => {
      const driver = harness.make({ eventHistory: 10 });
      const job = await driver.queue.enqueue({ model: 'm1', request });
      // queued, started, 60 × progress, succeeded
      driver.consume(
        'm1',
        async (j, context) => {
          for (let step = 1; step <= 60; step++)
            await context.progress({ step, steps: 60, elapsed_ms: step, eta_ms: 60 - step });
          return resultOf(j);
        },
        { workerId: 'w' },
      );
      await waitFor('the job to end', async () => (await driver.queue.get(job.id))?.status === 'succeeded');
      expect((await driver.queue.get(job.id))?.event_seq).toBe(63);
      expect(await driver.events.history(job.id, 0)).toBeUndefined();
      expect(await driver.events.history(job.id, 5)).toBeUndefined();
      const tail = await driver.events.history(job.id, 55);
      expect(tail?.map((e) => e.seq)).toEqual([56, 57, 58, 59, 60, 61, 62, 63]);
      expect(tail?.at(-1)).toMatchObject({ type: 'succeeded', job_id: job.id });
    });
  });

  describe('submitting and inspecting', () => {
    it('records a queued job that get() and list() return, newest first, per owner, limited', async () => {
      const driver = harness.make();
      const a = await driver.queue.enqueue({ model: 'm1', request, owner: 'key-a', request_id: 'req-1' });
      const b = await driver.queue.enqueue({ model: 'm1', request, owner: null, priority: 5 });
      const c = await driver.queue.enqueue({ model: 'm2', request, owner: 'key-a' });

      expect(a).toMatchObject({ model: 'm1', owner: 'key-a', status: 'queued', attempts: 0, priority: 100 });
      expect(a.request_id).toBe('req-1');
      expect(new Date(a.created_at).toISOString()).toBe(a.created_at);
      // Its place in the queue when it was queued: nothing was ahead of it.
      const { position, ...recordOfA } = a;
      expect(position).toBe(0);
      expect(b.position).toBe(0); // priority 5 goes ahead of a
      expect(c.position).toBe(0);
      // The queued event went out with the job, and the record says so.
      expect(await driver.queue.get(a.id)).toEqual({ ...recordOfA, event_seq: 1 });
      expect((await driver.queue.get(b.id))?.priority).toBe(5);
      expect(await driver.queue.get(randomUUID())).toBeUndefined();

      const ids = (records: JobRecord[]) => records.map((r) => r.id);
      expect(ids(await driver.queue.list())).toEqual([c.id, b.id, a.id]);
      expect(ids(await driver.queue.list({ owner: 'key-a' }))).toEqual([c.id, a.id]);
      expect(ids(await driver.queue.list({ owner: null }))).toEqual([b.id]);
      expect(ids(await driver.queue.list({ owner: 'nobody' }))).toEqual([]);
      expect(ids(await driver.queue.list({ limit: 2 }))).toEqual([c.id, b.id]);
    });

    it('takes a given id once and refuses bad ids and priorities', async () => {
      const driver = harness.make();
      const id = randomUUID();
      expect((await driver.queue.enqueue({ id, model: 'm1', request })).id).toBe(id);
      await expect(driver.queue.enqueue({ id, model: 'm1', request })).rejects.toMatchObject({
        code: 'GIRAFFE_ERR_JOB_EXISTS',
      });
      await expect(driver.queue.enqueue({ id: '../etc', model: 'm1', request })).rejects.toBeInstanceOf(
        GiraffeError,
      );
      await expect(driver.queue.enqueue({ model: 'm1', request, priority: 0 })).rejects.toBeInstanceOf(
        GiraffeError,
      );
      await expect(driver.queue.enqueue({ model: 'a:b', request })).rejects.toBeInstanceOf(GiraffeError);
    });

    // Issue 17, item 13: the API makes Idempotency-Keys atomic by enqueueing with the key's job id.
    it('takes an id once however many enqueue it at the same time: one job, the rest GIRAFFE_ERR_JOB_EXISTS', async () => {
      const driver = harness.make();
      const id = randomUUID();
      const tries = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          driver.queue.enqueue({ id, model: 'm1', request: { ...request, seed: i } }),
        ),
      );
      expect(tries.filter((t) => t.status === 'fulfilled')).toHaveLength(1);
      for (const t of tries.filter((t): t is PromiseRejectedResult => t.status === 'rejected')) {
        expect(t.reason).toMatchObject({ code: 'GIRAFFE_ERR_JOB_EXISTS', status: 409 });
      }
      expect(await driver.queue.depth('m1')).toBe(1);
      const won = tries.find((t) => t.status === 'fulfilled') as PromiseFulfilledResult<{ request: unknown }>;
      expect((await driver.queue.get(id))?.request).toEqual(won.value.request);
      expect((await driver.queue.list()).filter((j) => j.id === id)).toHaveLength(1);
    });

    it('refuses a job, recording nothing, while its model already has maxDepth jobs waiting', async () => {
      const driver = harness.make();
      await driver.queue.enqueue({ model: 'm1', request, maxDepth: 2 });
      const second = await driver.queue.enqueue({ model: 'm1', request, maxDepth: 2 });
      expect(second.position).toBe(1);
      const id = randomUUID();
      await expect(driver.queue.enqueue({ id, model: 'm1', request, maxDepth: 2 })).rejects.toMatchObject({
        code: 'GIRAFFE_ERR_QUEUE_FULL',
        details: { retry_after_s: 10 },
      });
      expect(await driver.queue.get(id)).toBeUndefined();
      expect(await driver.queue.depth('m1')).toBe(2);
      // The same id is free to use once there is room; other models are not affected.
      expect((await driver.queue.enqueue({ id, model: 'm1', request, maxDepth: 3 })).position).toBe(2);
      expect((await driver.queue.enqueue({ model: 'm2', request, maxDepth: 1 })).position).toBe(0);
      expect((await driver.queue.list()).length).toBe(4);
    });

    it('orders positions by priority, then first come first served, and counts depth per model', async () => {
      const driver = harness.make();
      const a = await driver.queue.enqueue({ model: 'm1', request });
      const b = await driver.queue.enqueue({ model: 'm1', request });
      const urgent = await driver.queue.enqueue({ model: 'm1', request, priority: 10 });
      const d = await driver.queue.enqueue({ model: 'm1', request });
      await driver.queue.enqueue({ model: 'm2', request });

      expect(await driver.queue.position(urgent.id)).toBe(0);
      expect(await driver.queue.position(a.id)).toBe(1);
      expect(await driver.queue.position(b.id)).toBe(2);
      expect(await driver.queue.position(d.id)).toBe(3);
      expect(await driver.queue.position(randomUUID())).toBeUndefined();
      expect(await driver.queue.depth('m1')).toBe(4);
      expect(await driver.queue.depth('m2')).toBe(1);
      expect(await driver.queue.depth('m3')).toBe(0);
      expect(await driver.queue.depth()).toBe(5);

      // Consumers take them in that order.
      const order: string[] = [];
      driver.consume('m1', async (job) => (order.push(job.id), resultOf(job)), { workerId: 'w1' });
      await waitFor('four jobs to run', () => order.length === 4);
      expect(order).toEqual([urgent.id, a.id, b.id, d.id]);
      await waitFor('depth 0', async () => (await driver.queue.depth('m1')) === 0);
      expect(await driver.queue.position(a.id)).toBeUndefined();
    });
  });

  describe('running', () => {
    it('runs only its model, publishes events in order and stores the result', async () => {
      const driver = harness.make();
      const other = await driver.queue.enqueue({ model: 'm2', request });
      const id = randomUUID();
      const watch = await recordEvents(driver, id);
      const contexts: JobContext[] = [];
      const rgb = Buffer.from([10, 20, 30, 40, 50, 60]);
      driver.consume(
        'm1',
        async (job, context) => {
          contexts.push(context);
          for (let step = 1; step <= 3; step++) {
            await context.progress({ step, steps: 3, elapsed_ms: step * 10, eta_ms: (3 - step) * 10 });
            await context.preview({ step, steps: 3, width: 2, height: 1, rgb });
          }
          await driver.results.put(job.id, 0, { data: Buffer.from([1, 2, 3, 4]), content_type: 'image/png' });
          return resultOf(job, 1);
        },
        { workerId: 'worker-1' },
      );

      const job = await driver.queue.enqueue({ id, model: 'm1', request });
      const final = await watch.final();

      expect(watch.types()).toEqual(['queued', 'started', 'progress', 'progress', 'progress', 'succeeded']);
      // Numbered from 1 without gaps, in delivery order.
      expect(watch.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(watch.events[0]).toMatchObject({ type: 'queued', job_id: id, position: 0 });
      expect(watch.events[1]).toMatchObject({ type: 'started', worker: 'worker-1', attempt: 1 });
      expect(watch.events[4]).toMatchObject({ type: 'progress', step: 3, steps: 3 });
      await waitFor('three previews', () => watch.previews.length === 3);
      expect(watch.previews.map((p) => p.step)).toEqual([1, 2, 3]);
      expect(watch.previews[2]).toMatchObject({ type: 'preview', job_id: id, steps: 3, width: 2, height: 1 });
      expect(Buffer.from(watch.previews[2].rgb)).toEqual(rgb);
      expect(await driver.events.latestPreview(id)).toMatchObject({ step: 3, rgb });
      expect(final).toMatchObject({ type: 'succeeded', result: resultOf(job, 1) });
      expect(contexts[0].attempt).toBe(1);

      const record = await driver.queue.get(id);
      expect(record).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        worker: 'worker-1',
        result: resultOf(job, 1),
      });
      expect(record?.progress).toEqual({ step: 3, steps: 3, elapsed_ms: 30, eta_ms: 0 });
      // The record says which event it reflects, and the history holds every event, as delivered.
      expect(record?.event_seq).toBe(6);
      expect(await driver.events.history(id, 0)).toEqual(watch.events);
      expect(await driver.events.history(id, 4)).toEqual(watch.events.slice(4));
      expect(await driver.events.history(id, 6)).toEqual([]);
      expect(await driver.events.history(randomUUID(), 0)).toEqual([]);
      expect(Date.parse(record?.finished_at ?? '')).toBeGreaterThanOrEqual(
        Date.parse(record?.started_at ?? ''),
      );
      expect(await driver.results.get(id, 0)).toEqual({
        data: Buffer.from([1, 2, 3, 4]),
        content_type: 'image/png',
      });
      expect(await driver.results.get(id, 1)).toBeUndefined();

      // The other model's job never ran.
      expect((await driver.queue.get(other.id))?.status).toBe('queued');

      // A late subscriber gets no replay, but the record tells it everything.
      const late = await recordEvents(driver, id);
      expect(await drained(driver, id, late)).toEqual([]);
      await late.stop();
      await watch.stop();
    });

    it('keeps the record up to date with progress while the job runs', async () => {
      const driver = harness.make();
      const release = gate();
      driver.consume(
        'm1',
        async (job, context) => {
          await context.progress({ step: 1, steps: 4, elapsed_ms: 5, eta_ms: 15 });
          await release.promise;
          return resultOf(job);
        },
        { workerId: 'w' },
      );
      const job = await driver.queue.enqueue({ model: 'm1', request });
      const running = await waitFor('progress in the record', async () => {
        const r = await driver.queue.get(job.id);
        return r?.progress?.step === 1 && r;
      });
      expect(running).toMatchObject({ status: 'running', attempts: 1, worker: 'w' });
      expect(await driver.queue.position(job.id)).toBeUndefined();
      expect(await driver.queue.depth('m1')).toBe(0);
      release.open();
      await waitFor('success', async () => (await driver.queue.get(job.id))?.status === 'succeeded');
    });

    it('fails at once on a non-retryable error', async () => {
      const driver = harness.make({ maxAttempts: 3 });
      let calls = 0;
      driver.consume(
        'm1',
        async () => {
          calls++;
          throw new GiraffeError('GIRAFFE_ERR_MODEL_OUTPUT_INVALID', 'the VAE produced NaNs');
        },
        { workerId: 'w' },
      );
      const id = randomUUID();
      const watch = await recordEvents(driver, id);
      await driver.queue.enqueue({ id, model: 'm1', request });
      expect(await watch.final()).toMatchObject({
        type: 'failed',
        error: { code: 'GIRAFFE_ERR_MODEL_OUTPUT_INVALID', message: 'the VAE produced NaNs' },
      });
      expect(await driver.queue.get(id)).toMatchObject({ status: 'failed', attempts: 1 });
      expect(calls).toBe(1);
      expect(watch.types()).toEqual(['queued', 'started', 'failed']);
    });

    it('retries a retryable error with back-off and then succeeds', async () => {
      const driver = harness.make({ maxAttempts: 3, backoffMs: 20 });
      const attempts: number[] = [];
      driver.consume(
        'm1',
        async (job, context) => {
          attempts.push(context.attempt);
          if (attempts.length === 1) throw new Error('the GPU hiccuped');
          return resultOf(job);
        },
        { workerId: 'w' },
      );
      const id = randomUUID();
      const watch = await recordEvents(driver, id);
      await driver.queue.enqueue({ id, model: 'm1', request });
      expect((await watch.final()).type).toBe('succeeded');
      expect(attempts).toEqual([1, 2]);
      expect(await driver.queue.get(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
      expect(watch.types()).toEqual(['queued', 'started', 'queued', 'started', 'succeeded']);
    });

    it('fails for good once the attempts are used up', async () => {
      const driver = harness.make({ maxAttempts: 2 });
      let calls = 0;
      driver.consume(
        'm1',
        async () => {
          calls++;
          throw new Error(`out of memory #${calls}`);
        },
        { workerId: 'w' },
      );
      const id = randomUUID();
      const watch = await recordEvents(driver, id);
      await driver.queue.enqueue({ id, model: 'm1', request });
      expect(await watch.final()).toMatchObject({
        type: 'failed',
        error: { code: 'GIRAFFE_ERR_GENERATION_FAILED', message: 'out of memory #2' },
      });
      expect(await driver.queue.get(id)).toMatchObject({ status: 'failed', attempts: 2 });
      // A second job through the same consumer, to its end (both its runs and back-off): a third
      // run of the first, due 10 ms after its second failure, would have come by then.
      const second = await driver.queue.enqueue({ model: 'm1', request });
      await waitFor(
        'the second job to fail',
        async () => (await driver.queue.get(second.id))?.status === 'failed',
      );
      expect(calls).toBe(4);
      expect((await drained(driver, id, watch)).filter((e) => e.type === 'failed')).toHaveLength(1);
    });
  });

  describe('canceling', () => {
    it('cancels a waiting job, which then never runs', async () => {
      const driver = harness.make();
      const id = randomUUID();
      const watch = await recordEvents(driver, id);
      await driver.queue.enqueue({ id, model: 'm1', request });
      expect(await driver.queue.cancel(id)).toBe('canceled');
      expect(await driver.queue.get(id)).toMatchObject({ status: 'canceled', attempts: 0 });
      expect((await driver.queue.get(id))?.finished_at).toBeDefined();
      expect(await driver.queue.depth('m1')).toBe(0);
      expect(await driver.queue.position(id)).toBeUndefined();

      let ran = false;
      driver.consume('m1', async (job) => ((ran = true), resultOf(job)), { workerId: 'w' });
      const after = await driver.queue.enqueue({ model: 'm1', request });
      await waitFor('the next job', async () => (await driver.queue.get(after.id))?.status === 'succeeded');
      expect(ran).toBe(true); // ran the later job …
      expect((await driver.queue.get(id))?.status).toBe('canceled'); // … never the canceled one
      expect(watch.types()).toEqual(['queued', 'canceled']);
      expect(await driver.queue.cancel(id)).toBe('already_finished');
    });

    it('cancels a running job through its signal, with exactly one final event', async () => {
      const driver = harness.make({ maxAttempts: 3 });
      let signal: AbortSignal | undefined;
      driver.consume(
        'm1',
        async (_job, context) => {
          signal = context.signal;
          await aborted(context.signal);
          throw new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'stopped at step 2');
        },
        { workerId: 'w' },
      );
      const id = randomUUID();
      const watch = await recordEvents(driver, id);
      await driver.queue.enqueue({ id, model: 'm1', request });
      await waitFor('the job to run', async () => (await driver.queue.get(id))?.status === 'running');
      expect(await driver.queue.cancel(id)).toBe('cancel_requested');
      expect((await watch.final()).type).toBe('canceled');
      expect(signal?.aborted).toBe(true);
      expect(await driver.queue.get(id)).toMatchObject({ status: 'canceled', attempts: 1 });
      expect((await drained(driver, id, watch)).map((e) => e.type)).toEqual([
        'queued',
        'started',
        'canceled',
      ]);
      expect(await driver.queue.cancel(id)).toBe('already_finished');
    });

    it('names every job that ends, and only once, to an ended-jobs subscriber', async () => {
      const driver = harness.make();
      const ended: string[] = [];
      const stop = await driver.events.subscribeEnded((id) => ended.push(id));
      const canceled = await driver.queue.enqueue({ model: 'm1', request });
      const waiting = await driver.queue.enqueue({ model: 'm1', request });
      expect(await driver.queue.cancel(canceled.id)).toBe('canceled');
      driver.consume('m1', succeed, { workerId: 'w' });
      await waitFor('both ends', () => ended.length === 2);
      // A third end, awaited, comes after any duplicate of the first two would have.
      const third = await driver.queue.enqueue({ model: 'm1', request });
      await waitFor('the third end', () => ended.includes(third.id));
      expect(ended).toEqual([canceled.id, waiting.id, third.id]);
      // Unsubscribed: a later end is not delivered (a second subscriber, on the same delivery
      // path, hears it; by then the first would have too).
      await stop();
      const witness: string[] = [];
      const stopWitness = await driver.events.subscribeEnded((id) => witness.push(id));
      const later = await driver.queue.enqueue({ model: 'm1', request });
      await waitFor('the later end', () => witness.includes(later.id));
      await stopWitness();
      expect(ended).toEqual([canceled.id, waiting.id, third.id]);
    });

    it('answers already_finished and not_found', async () => {
      const driver = harness.make();
      driver.consume('m1', succeed, { workerId: 'w' });
      const job = await driver.queue.enqueue({ model: 'm1', request });
      await waitFor('success', async () => (await driver.queue.get(job.id))?.status === 'succeeded');
      expect(await driver.queue.cancel(job.id)).toBe('already_finished');
      expect((await driver.queue.get(job.id))?.status).toBe('succeeded');
      expect(await driver.queue.cancel(randomUUID())).toBe('not_found');
    });
  });

  it('forgets finished jobs, their list entries and images after the retention time', async () => {
    const driver = harness.make({ retentionMs: 300 });
    driver.consume(
      'm1',
      async (job) => {
        await driver.results.put(job.id, 0, { data: Buffer.from('png!'), content_type: 'image/png' });
        return resultOf(job, 1);
      },
      { workerId: 'w' },
    );
    const job = await driver.queue.enqueue({ model: 'm1', request });
    await waitFor('success', async () => (await driver.queue.get(job.id))?.status === 'succeeded');
    expect((await driver.queue.list()).map((r) => r.id)).toEqual([job.id]);
    expect(await driver.results.get(job.id, 0)).toBeDefined();

    await waitFor('the record to expire', async () => (await driver.queue.get(job.id)) === undefined, 5000);
    expect(await driver.queue.list()).toEqual([]);
    await waitFor(
      'the image to expire',
      async () => (await driver.results.get(job.id, 0)) === undefined,
      5000,
    );
  });

  it("keeps a job's input images beside its results: read by the worker, deleted and expired with them", async () => {
    const driver = harness.make({ retentionMs: 400 });
    const id = randomUUID();
    const input = { data: Buffer.from('input image bytes'), content_type: 'image/png' };
    const mask = { data: Buffer.from('mask bytes'), content_type: 'image/webp' };
    // The API stores the inputs before the job is queued; the worker reads them back.
    await driver.results.putInput(id, 'image', input);
    await driver.results.putInput(id, 'mask_image', mask);
    const seen: (Buffer | undefined)[] = [];
    driver.consume(
      'm1',
      async (job) => {
        seen.push((await driver.results.getInput(job.id, 'image'))?.data);
        await driver.results.put(job.id, 0, { data: Buffer.from('png!'), content_type: 'image/png' });
        return resultOf(job, 1);
      },
      { workerId: 'w' },
    );
    await driver.queue.enqueue({ id, model: 'm1', request });
    await waitFor('success', async () => (await driver.queue.get(id))?.status === 'succeeded');
    expect(seen).toEqual([input.data]);
    expect(await driver.results.getInput(id, 'mask_image')).toEqual(mask);
    // Inputs and results are separate: index 0 is the result, not an input.
    expect((await driver.results.get(id, 0))?.data.toString()).toBe('png!');
    await waitFor(
      'the inputs to expire',
      async () => (await driver.results.getInput(id, 'image')) === undefined,
      5000,
    );

    const other = randomUUID();
    await driver.results.putInput(other, 'image', input);
    await driver.results.put(other, 0, { data: Buffer.from('png!'), content_type: 'image/png' });
    await driver.results.delete(other);
    expect(await driver.results.getInput(other, 'image')).toBeUndefined();
    expect(await driver.results.get(other, 0)).toBeUndefined();
  });

  describe('consumers', () => {
    it('close(grace) lets a quick job finish', async () => {
      const driver = harness.make();
      const consumer = driver.consume('m1', async (job) => (await sleep(100), resultOf(job)), {
        workerId: 'w',
      });
      const job = await driver.queue.enqueue({ model: 'm1', request });
      await waitFor('the job to run', () => consumer.running.includes(job.id));
      await consumer.close(10_000);
      expect(await driver.queue.get(job.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(consumer.running).toEqual([]);
    });

    it('close(grace) hands a job still running back to the queue, and another consumer completes it', async () => {
      const driver = harness.make({ maxAttempts: 1 });
      let firstSignal: AbortSignal | undefined;
      const first = driver.consume(
        'm1',
        async (_job, context) => {
          firstSignal = context.signal;
          await aborted(context.signal);
          throw new Error('interrupted');
        },
        { workerId: 'first' },
      );
      const id = randomUUID();
      const watch = await recordEvents(driver, id);
      await driver.queue.enqueue({ id, model: 'm1', request });
      await waitFor('the job to run', async () => (await driver.queue.get(id))?.status === 'running');
      expect(first.running).toEqual([id]);

      await first.close(100);
      expect(firstSignal?.aborted).toBe(true);
      expect(await driver.queue.get(id)).toMatchObject({ status: 'queued', attempts: 1 });
      expect(await driver.queue.depth('m1')).toBe(1);
      expect(await driver.queue.position(id)).toBe(0);

      const attempts: number[] = [];
      driver.consume('m1', async (job, context) => (attempts.push(context.attempt), resultOf(job)), {
        workerId: 'second',
      });
      // maxAttempts 1: the hand-back did not count as a failed attempt.
      expect((await watch.final()).type).toBe('succeeded');
      expect(await driver.queue.get(id)).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        worker: 'second',
      });
      expect(attempts).toEqual([2]);
      expect(watch.types()).toEqual(['queued', 'started', 'queued', 'started', 'succeeded']);
    });

    it('shares one model between consumers without running any job twice', async () => {
      const driver = harness.make();
      const runs: { id: string; worker: string }[] = [];
      const handler = (worker: string): JobHandler =>
        async function run(job) {
          runs.push({ id: job.id, worker });
          await sleep(40);
          return resultOf(job);
        };
      driver.consume('m1', handler('a'), { workerId: 'a', concurrency: 2 });
      driver.consume('m1', handler('b'), { workerId: 'b', concurrency: 2 });
      const jobs = await Promise.all(
        Array.from({ length: 12 }, () => driver.queue.enqueue({ model: 'm1', request })),
      );
      for (const job of jobs) {
        await waitFor(
          'every job to finish',
          async () => (await driver.queue.get(job.id))?.status === 'succeeded',
        );
      }
      expect(runs.map((r) => r.id).sort()).toEqual(jobs.map((j) => j.id).sort());
      expect(new Set(runs.map((r) => r.worker))).toEqual(new Set(['a', 'b']));
    });
  });

  it('keeps a registry of workers with heartbeats and a TTL', async () => {
    const driver = harness.make();
    const info = {
      id: 'worker-1',
      host: 'gpu-box',
      pid: 1234,
      models: ['m1'],
      device: 'cuda:0',
      concurrency: 1,
      started_at: new Date().toISOString(),
      current_jobs: [],
    };
    await driver.workers.heartbeat(info, 10_000);
    await driver.workers.heartbeat({ ...info, id: 'worker-2', current_jobs: ['j1'] }, 250);
    const listed = await driver.workers.list();
    expect(listed.map((w) => w.id).sort()).toEqual(['worker-1', 'worker-2']);
    expect(listed.find((w) => w.id === 'worker-1')).toMatchObject({
      ...info,
      heartbeat_at: expect.any(String),
    });

    await waitFor('worker-2 to expire', async () => (await driver.workers.list()).length === 1, 5000);
    expect((await driver.workers.list())[0].id).toBe('worker-1');
    await driver.workers.remove('worker-1');
    expect(await driver.workers.list()).toEqual([]);
  });

  it('answers ping', async () => {
    expect(await harness.make().ping()).toBe(true);
  });
});
