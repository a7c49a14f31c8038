import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { waitForJob } from '../../src/api/wait-for-job';
import type { JobRecord } from '../../src/jobs';
import {
  parseA1111Parameters,
  readPngTextChunks,
  resolveRequest,
  writeFixtureModel,
} from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';
import { describeOnSoftwareGpu } from '../helpers/software-gpu';

// A worker on webgpu (SwiftShader): two copies of the model, so two inference
// threads of one process share the GPU, which crashes onnxruntime 1.30 unless
// every webgpu call in the process is serialised.
jest.setTimeout(600_000);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-webgpu-worker-'));
const logger = pino({ level: 'silent' });
let driver: QueueDriver;
let worker: WorkerService | undefined;

afterAll(async () => {
  await worker?.stop(0);
  await driver?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describeOnSoftwareGpu('a worker on webgpu', () => {
  beforeAll(async () => {
    const dir = path.join(tmp, 'models', 'fixture');
    await writeFixtureModel(dir);
    driver = createQueueDriver({ dataDir: path.join(tmp, 'data') });
    worker = await WorkerService.start({
      driver,
      models: [{ id: 'fixture', dir }],
      device: 'webgpu',
      concurrency: 2,
      logger,
    });
  });

  it('announces itself only after its warm-up, then runs two jobs at once on the GPU', async () => {
    // start() returned: both copies made their warm-up image, and the heartbeat went out after.
    const [announced] = await driver.workers.list();
    expect(announced).toMatchObject({ device: 'webgpu', models: ['fixture'], concurrency: 2 });

    const request = resolveRequest(
      { prompt: 'a giraffe on a software GPU', seed: 11, steps: 3, scheduler: 'ddim' },
      { size: 64, scheduler: 'ddim' },
    );
    const queued = await Promise.all([0, 1].map(() => driver.queue.enqueue({ model: 'fixture', request })));
    const jobs = (await Promise.all(queued.map((q) => waitForJob(driver, q.id, 300_000)))) as JobRecord[];
    for (const job of jobs) {
      expect(job.status).toBe('succeeded');
      expect(job.result!.reproducibility!.runtime).toMatchObject({
        device: 'webgpu',
        execution_provider: 'webgpu',
      });
      const png = (await driver.results.get(job.id, 0))!.data;
      const parameters = parseA1111Parameters(readPngTextChunks(png).parameters);
      expect(parameters).toMatchObject({ seed: 11, steps: 3, extra: { Device: 'webgpu' } });
    }
  });
});
