import type { JobHandler } from '../../src/queue';
import { driverHarness, driverKinds, gate, recordEvents, request, resultOf, waitFor } from './queue-fixtures';

// What serving several models needs from a queue driver: one consumer for
// many models, the models with waiting jobs, failing the jobs nobody can
// take, and a shared note of since when a model has had no worker.
const error = { code: 'GIRAFFE_ERR_MODEL_UNSERVED', message: 'no worker has served model "m2"' };

describe.each(driverKinds)('serving several models: %s driver', (kind) => {
  const harness = driverHarness(kind);

  it('one consumer takes the jobs of each of its models, and of a model it starts serving later', async () => {
    const driver = harness.make();
    const ran: string[] = [];
    const handler: JobHandler = async (job) => (ran.push(job.model), resultOf(job));
    const consumer = driver.consume(['m1', 'm2'], handler, { workerId: 'w' });
    const jobs = [
      await driver.queue.enqueue({ model: 'm1', request }),
      await driver.queue.enqueue({ model: 'm2', request }),
      await driver.queue.enqueue({ model: 'm3', request }),
    ];
    await waitFor('m1 and m2 to run', () => ran.length === 2);
    expect(ran.sort()).toEqual(['m1', 'm2']);
    expect((await driver.queue.get(jobs[2].id))?.status).toBe('queued');
    consumer.serve('m3');
    await waitFor('m3 to run', async () => (await driver.queue.get(jobs[2].id))?.status === 'succeeded');
    expect(ran).toContain('m3');
  });

  it('lists the models with waiting jobs and fails the unheld ones of one model, never a running job', async () => {
    const driver = harness.make();
    const release = gate();
    driver.consume('m2', async (job) => (await release.promise, resultOf(job)), { workerId: 'w' });
    const running = await driver.queue.enqueue({ model: 'm2', request });
    await waitFor(
      'the first m2 job to run',
      async () => (await driver.queue.get(running.id))?.status === 'running',
    );
    const waiting = [
      await driver.queue.enqueue({ model: 'm2', request }),
      await driver.queue.enqueue({ model: 'm2', request, priority: 5 }),
    ];
    const other = await driver.queue.enqueue({ model: 'm1', request });
    expect((await driver.queue.waitingModels()).sort()).toEqual(['m1', 'm2']);

    const watch = await recordEvents(driver, waiting[0].id);
    const ended = await driver.queue.failUnheld('m2', error);
    expect(ended.sort()).toEqual(waiting.map((j) => j.id).sort());
    expect(await watch.final()).toMatchObject({ type: 'failed', error });
    for (const job of waiting) {
      expect(await driver.queue.get(job.id)).toMatchObject({ status: 'failed', error });
    }
    expect(await driver.queue.waitingModels()).toEqual(['m1']);
    expect((await driver.queue.get(other.id))?.status).toBe('queued');
    // The running job is its worker's: it ends as the worker says.
    expect((await driver.queue.get(running.id))?.status).toBe('running');
    release.open();
    await waitFor(
      'the running job to succeed',
      async () => (await driver.queue.get(running.id))?.status === 'succeeded',
    );
    // Nothing left to fail; a second sweep (another API replica) ends nothing twice.
    expect(await driver.queue.failUnheld('m2', error)).toEqual([]);
  });

  it('notes since when a model has been unserved, the same for every process, and forgets it once served', async () => {
    const one = harness.make();
    // bullmq: a second driver on the same Redis prefix, as another API replica has (memory: one process).
    const two = kind === 'memory' ? one : harness.make();
    expect(await one.workers.noteUnserved(['m1', 'm2'], 1000)).toEqual({ m1: 1000, m2: 1000 });
    expect(await two.workers.noteUnserved(['m1', 'm2'], 5000)).toEqual({ m1: 1000, m2: 1000 });
    // m1 is served again (or has nothing waiting): its moment is forgotten.
    expect(await two.workers.noteUnserved(['m2'], 6000)).toEqual({ m2: 1000 });
    expect(await one.workers.noteUnserved(['m1', 'm2'], 7000)).toEqual({ m1: 7000, m2: 1000 });
    expect(await one.workers.noteUnserved([], 8000)).toEqual({});
  });
});

describe('serving several models: memory driver slots', () => {
  const harness = driverHarness('memory');

  it('shares its slots across its models, which take turns, so no model starves another', async () => {
    const driver = harness.make();
    const first = gate();
    const order: string[] = [];
    const handler: JobHandler = async (job) => {
      order.push(`${job.model}:${job.request.prompt}`);
      if (order.length === 1) await first.promise;
      return resultOf(job);
    };
    driver.consume(['a', 'b', 'c'], handler, { workerId: 'w', concurrency: 1 });
    const enqueue = (model: string, prompt: string) =>
      driver.queue.enqueue({ model, request: { ...request, prompt } });
    const jobs = [await enqueue('a', '1')];
    await waitFor('a:1 to start', () => order.length === 1);
    // A long queue for a, then one job each for b and c: with one slot, they must not wait for all of a's.
    for (const prompt of ['2', '3', '4']) jobs.push(await enqueue('a', prompt));
    jobs.push(await enqueue('b', '1'), await enqueue('c', '1'));
    expect(order).toEqual(['a:1']);
    first.open();
    await waitFor('every job to end', async () => {
      const records = await Promise.all(jobs.map((j) => driver.queue.get(j.id)));
      return records.every((r) => r?.status === 'succeeded');
    });
    expect(order).toEqual(['a:1', 'b:1', 'c:1', 'a:2', 'a:3', 'a:4']);
  });
});
