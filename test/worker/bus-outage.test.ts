import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { waitForJob } from '../../src/api/wait-for-job';
import type { JobProgress } from '../../src/jobs';
import { ensureDemoModel, resolveRequest } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';
import { LatestProgress, MAX_PENDING_PROGRESS } from '../../src/worker/latest-progress';

// Issue 17, item 2: while Redis is away, a worker's progress publications wait for it. They used
// to queue one per step (each holding its step's latents): RSS grew from 473 MB to 3.6 GB.
// What waits must be bounded: the newest progress only, and the job ends correctly after.
//
// The one fault injected here: the job's progress publication does not return until "Redis is
// back" (the driver is wrapped so its context's `progress` waits on a promise). The real worker,
// pipeline and memory driver do the rest.
it('holds only plain progress numbers while the bus is away, and publishes every step in order when it is back', async () => {
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
    const steps = 150;
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
    // Every step's progress, in order, once the bus is back; what waited were plain numbers.
    expect(published.map((p) => p.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    for (const p of published) expect(Object.values(p).every((v) => typeof v === 'number')).toBe(true);
    expect((await inner.queue.get(job.id))?.progress?.step).toBe(steps);
  } finally {
    await worker.stop(0);
    await inner.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 60_000);

it('keeps at most MAX_PENDING_PROGRESS updates waiting, the newest, and publishes them in order', async () => {
  let back: () => void = () => undefined;
  const outage = new Promise<void>((resolve) => (back = resolve));
  const published: number[] = [];
  const progress = new LatestProgress(async (p) => {
    await outage;
    published.push(p.step);
  });
  const offered = MAX_PENDING_PROGRESS * 3;
  for (let step = 1; step <= offered; step++)
    progress.offer({ step, steps: offered, elapsed_ms: 0, eta_ms: 0 });
  back();
  await progress.flush();
  const newest = Array.from(
    { length: MAX_PENDING_PROGRESS },
    (_, i) => offered - MAX_PENDING_PROGRESS + 1 + i,
  );
  expect(published).toEqual([1, ...newest]);
});
