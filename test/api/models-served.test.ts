import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api';
import { resolveModel } from '../../src/cli/resolve-model';
import { loadConfig } from '../../src/config';
import { listModels } from '../../src/models';
import { ensureDemoModel } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';

// Several models side by side in MODELS_DIR: `GET /v1/models`, `giraffe
// models list` and the workers agree on their names, and each job runs on a
// worker that serves its model.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-models-served-'));
const config = loadConfig({
  DATA_DIR: path.join(tmp, 'data'),
  MODELS_DIR: path.join(tmp, 'models'),
  DEFAULT_MODEL: 'alpha',
  LOG_LEVEL: 'silent',
});
let app: FastifyInstance;
let driver: QueueDriver;
const workers: WorkerService[] = [];

beforeAll(async () => {
  const demo = await ensureDemoModel(config.DATA_DIR);
  for (const name of ['alpha', 'beta', 'gamma']) {
    fs.cpSync(demo, path.join(config.MODELS_DIR, name), { recursive: true });
  }
  driver = createQueueDriver({ dataDir: config.DATA_DIR });
  const logger = pino({ level: 'silent' });
  // As `giraffe worker --model alpha` and `giraffe worker --model beta` resolve them; gamma has no worker.
  for (const name of ['alpha', 'beta']) {
    workers.push(
      await WorkerService.start({
        driver,
        models: [await resolveModel(name, config)],
        logger,
        workerId: `worker-${name}`,
      }),
    );
  }
  app = await buildApp({ config, driver, logger });
});

afterAll(async () => {
  await app?.close();
  for (const w of workers) await w.stop(0);
  await driver?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('lists every model on disk, with the workers that serve each', async () => {
  const listed = (await app.inject({ method: 'GET', url: '/v1/models' })).json();
  expect(listed.default).toBe('alpha');
  const byId = Object.fromEntries(
    (listed.models as { id: string; workers: number }[]).map((m) => [m.id, m.workers]),
  );
  expect(byId).toEqual({ alpha: 1, beta: 1, gamma: 0 });
  // `giraffe models list` names the same directories.
  expect(
    listModels(config.MODELS_DIR)
      .map((m) => m.name)
      .sort(),
  ).toEqual(Object.keys(byId).sort());
  // And the workers announce exactly the ids the API lists for them.
  const announced = (await driver.workers.list()).flatMap((w) => w.models).sort();
  expect(announced).toEqual(['alpha', 'beta']);
});

it.each(['alpha', 'beta'])('runs a job for %s on the worker that serves it', async (model) => {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/generate?wait=true',
    payload: { prompt: 'a giraffe', model, steps: 2, width: 64, height: 64, seed: 3 },
  });
  const job = response.json();
  expect(job).toMatchObject({ status: 'succeeded', model });
  expect(job.worker).toMatch(new RegExp(`^worker-${model}`));
});

it('queues a job for a model on disk that no worker serves yet, and refuses one that does not exist', async () => {
  const queued = await app.inject({
    method: 'POST',
    url: '/v1/generate',
    payload: { prompt: 'a giraffe', model: 'gamma', steps: 2, width: 64, height: 64 },
  });
  expect(queued.statusCode).toBe(202);
  expect(queued.json()).toMatchObject({ status: 'queued' });
  const unknown = await app.inject({
    method: 'POST',
    url: '/v1/generate',
    payload: { prompt: 'a giraffe', model: 'delta' },
  });
  expect(unknown.statusCode).toBe(400);
  expect(unknown.json()).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_UNKNOWN' });
});
