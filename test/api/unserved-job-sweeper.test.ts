import pino from 'pino';
import { UnservedJobSweeper } from '../../src/api/unserved-job-sweeper';
import type { QueueDriver } from '../../src/queue';
import { driverHarness, recordEvents, request, type DriverKind } from '../queue/queue-fixtures';

const kinds: DriverKind[] = ['memory', 'bullmq with Redis results'];

function announce(driver: QueueDriver, id: string, models: string[]): Promise<void> {
  return driver.workers.heartbeat(
    {
      id,
      host: 'test',
      pid: 1,
      models,
      device: 'cpu',
      concurrency: 1,
      started_at: new Date().toISOString(),
      current_jobs: [],
    },
    60_000,
  );
}

describe.each(kinds)('unserved-job sweeper: %s driver', (kind) => {
  const harness = driverHarness(kind);

  it('fails the waiting jobs of a model no worker has served for the timeout, and no sooner', async () => {
    const driver = harness.make();
    // The sweeps are called with explicit clocks: no waiting in the test.
    const sweeper = new UnservedJobSweeper({ driver, timeoutMs: 1000, logger: pino({ level: 'silent' }) });
    // m1 has a worker (busy: nothing consumes), ghost has none.
    await announce(driver, 'busy', ['m1']);
    const served = await driver.queue.enqueue({ model: 'm1', request });
    const orphans = [
      await driver.queue.enqueue({ model: 'ghost', request }),
      await driver.queue.enqueue({ model: 'ghost', request }),
    ];
    const status = async (id: string) => (await driver.queue.get(id))?.status;

    await sweeper.sweep(10_000);
    await sweeper.sweep(10_999);
    expect(await status(orphans[0].id)).toBe('queued');

    // A worker for ghost comes back (a restart) before the timeout: the clock starts again when it goes.
    await announce(driver, 'restarted', ['ghost']);
    await sweeper.sweep(11_500);
    await driver.workers.remove('restarted');
    await sweeper.sweep(12_000);
    await sweeper.sweep(12_999);
    expect(await status(orphans[0].id)).toBe('queued');

    const watch = await recordEvents(driver, orphans[0].id);
    await sweeper.sweep(13_000);
    const final = await watch.final();
    expect(final).toMatchObject({ type: 'failed', error: { code: 'GIRAFFE_ERR_MODEL_UNSERVED' } });
    const record = await driver.queue.get(orphans[1].id);
    expect(record).toMatchObject({ status: 'failed', error: { code: 'GIRAFFE_ERR_MODEL_UNSERVED' } });
    expect(record?.error?.message).toMatch(/no worker has served model "ghost" for 1 s/);
    expect(record?.error?.message).toContain('UNSERVED_MODEL_TIMEOUT_MS');
    // The served model's job waits on, however long.
    await sweeper.sweep(1_000_000);
    expect(await status(served.id)).toBe('queued');
    expect(await driver.queue.waitingModels()).toEqual(['m1']);
  });
});
