import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { waitForJob } from '../../src/api/wait-for-job';
import type { JobProgress } from '../../src/jobs';
import { ensureDemoModel, resolveRequest } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';

// Issue 17, item 2: while Redis is away, a worker's progress publications wait for it. They used
// to queue one per step (each holding its step's latents): RSS grew from 473 MB to 3.6 GB.
// What waits must be bounded: the newest progress only, and the job ends correctly after.
//
// The one fault injected here: the job's progress publication does not return until "Redis is
// back" (the driver is wrapped so its context's `progress` waits on a promise). The real worker,
// pipeline and memory driver do the rest.
it('keeps only the newest progress waiting while the bus is away, and publishes it when it is back', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-outage-'));
  const inner = createQueueDriver({ dataDir: tmp });
  let back: () => void = () => undefined;
  const outage = new Promise<void>((resolve) => (back = resolve));
  const published: JobProgress[] = [];
  let lastPreviewStep = 0;
  let allSteps: () => void = () => undefined;
  const stepsDone = new Promise<void>((resolve) => (allSteps = resolve));
  const driver: QueueDriver = Object.assign(Object.create(inner) as QueueDriver, {
    consume: ((model, handler, options) =>
      inner.consume(
        model,
        (job, context) =>
          handler(job, {
            ...context,
            progress: async (progress: JobProgress) => {
              await outage;
              published.push(progress);
              await context.progress(progress);
            },
            preview: async (preview) => {
              lastPreviewStep = preview.step;
              if (preview.step >= preview.steps) allSteps();
              await context.preview(preview);
            },
          }),
        options,
      )) as QueueDriver['consume'],
  });
  const demoDir = await ensureDemoModel(tmp);
  const worker = await WorkerService.start({
    driver,
    models: [{ id: 'demo', dir: demoDir }],
    logger: pino({ level: 'silent' }),
  });
  try {
    const steps = 40;
    const job = await inner.queue.enqueue({
      model: 'demo',
      request: resolveRequest(
        { prompt: 'an outage', steps, width: 64, height: 64, scheduler: 'euler', seed: 2 },
        { size: 64, scheduler: 'euler' },
      ),
    });
    // Every step has been made while the first progress still waits for the bus.
    await stepsDone;
    expect(lastPreviewStep).toBe(steps);
    expect(published).toEqual([]);
    back();
    const final = (await waitForJob(inner, job.id, 30_000))?.status;
    expect(final).toBe('succeeded');
    // The first step's (in flight when the bus went away) and the newest: nothing in between waited.
    expect(published.map((p) => p.step)).toEqual([1, steps]);
    expect((await inner.queue.get(job.id))?.progress?.step).toBe(steps);
  } finally {
    await worker.stop(0);
    await inner.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 60_000);
