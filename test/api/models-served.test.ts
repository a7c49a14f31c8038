import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api';
import { startEmbeddedWorker } from '../../src/cli/served-models';
import { loadConfig } from '../../src/config';
import { listModels } from '../../src/models';
import { ensureDemoModel, writeFixtureModel } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import type { WorkerService } from '../../src/worker';
import { estimateModelFootprint } from '../../src/worker/model-footprint';
import { until } from '../helpers/processes';

// Embedded mode as `giraffe serve` starts it: several models in MODELS_DIR
// and the built-in demo, each loaded on its first job, within a memory budget
// that holds two fixture models and the demo but not three fixture models.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-models-served-'));
const dataDir = path.join(tmp, 'data');
const modelsDir = path.join(tmp, 'models');
let config: ReturnType<typeof loadConfig>;
let app: FastifyInstance;
let driver: QueueDriver;
let worker: WorkerService;

interface Listed {
  id: string;
  workers: number;
  served: boolean;
  loaded: boolean;
}

async function listed(): Promise<Record<string, Listed>> {
  const body = (await app.inject({ method: 'GET', url: '/v1/models' })).json();
  return Object.fromEntries((body.models as Listed[]).map((m) => [m.id, m]));
}

const loadedModels = async (): Promise<string[]> =>
  Object.values(await listed())
    .filter((m) => m.loaded)
    .map((m) => m.id)
    .sort();

async function generate(model: string): Promise<Record<string, unknown>> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/generate?wait=true',
    payload: { prompt: 'a giraffe', model, steps: 2, width: 64, height: 64, seed: 3 },
  });
  expect(response.statusCode).toBe(200);
  return response.json();
}

beforeAll(async () => {
  for (const [seed, name] of ['alpha', 'beta', 'gamma'].entries()) {
    await writeFixtureModel(path.join(modelsDir, name), { seed: seed + 1 });
  }
  const fixture = estimateModelFootprint(path.join(modelsDir, 'alpha'));
  const demo = estimateModelFootprint(await ensureDemoModel(dataDir));
  const budget = 2 * fixture + demo + 4096;
  expect(budget).toBeLessThan(3 * fixture);
  config = loadConfig({
    DATA_DIR: dataDir,
    MODELS_DIR: modelsDir,
    DEFAULT_MODEL: 'alpha',
    LOG_LEVEL: 'silent',
    MODEL_MEMORY_BUDGET_MB: String(budget / 1_048_576),
  });
  driver = createQueueDriver({ dataDir });
  const logger = pino({ level: 'silent' });
  const started = await startEmbeddedWorker(config, driver, logger, { workerId: 'embedded' });
  worker = started.worker;
  app = await buildApp({ config, driver, logger, extraModels: started.builtIn });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await worker?.stop(0);
  await driver?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('serves every model in MODELS_DIR and the built-in demo, none loaded before its first job', async () => {
  const models = await listed();
  expect(Object.keys(models).sort()).toEqual(['alpha', 'beta', 'demo', 'demo-inpaint', 'gamma']);
  for (const m of Object.values(models)) {
    expect(m).toMatchObject({ workers: 1, served: true, loaded: false });
  }
  // `giraffe models list` names the same directories.
  expect(
    listModels(modelsDir)
      .map((m) => m.name)
      .sort(),
  ).toEqual(['alpha', 'beta', 'gamma']);
  expect(worker.info.loaded).toEqual([]);
});

it('runs a job for each model, unloading the least recently used idle one when the next does not fit', async () => {
  const loadedNow = () => [...(worker.info.loaded ?? [])].sort();
  expect(await generate('alpha')).toMatchObject({ status: 'succeeded', model: 'alpha', worker: 'embedded' });
  expect(loadedNow()).toEqual(['alpha']);
  await generate('beta');
  expect(loadedNow()).toEqual(['alpha', 'beta']);
  // alpha is now the more recently used of the two ...
  await generate('alpha');
  // ... so gamma, which does not fit beside both, takes beta's place.
  expect(await generate('gamma')).toMatchObject({ status: 'succeeded', model: 'gamma' });
  expect(loadedNow()).toEqual(['alpha', 'gamma']);
  // The small demo fits beside them.
  expect(await generate('demo')).toMatchObject({ status: 'succeeded', model: 'demo' });
  expect(loadedNow()).toEqual(['alpha', 'demo', 'gamma']);
  // GET /v1/models says the same (the worker announces a change at once; the API caches a second).
  await until('GET /v1/models to show the loaded models', async () => {
    const shown = await loadedModels();
    return shown.join() === 'alpha,demo,gamma' ? shown : undefined;
  });
  expect((await listed()).beta).toMatchObject({ served: true, loaded: false });
  // beta loads again when asked for (alpha, now the least recently used, makes room).
  expect(await generate('beta')).toMatchObject({ status: 'succeeded', model: 'beta' });
  expect(loadedNow()).toEqual(['beta', 'demo', 'gamma']);
});

it('refuses a job for a model it does not serve with a 400 that names the models it serves', async () => {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/generate',
    payload: { prompt: 'a giraffe', model: 'delta' },
  });
  expect(response.statusCode).toBe(400);
  const problem = response.json();
  expect(problem).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_UNKNOWN' });
  expect(problem.detail).toContain('"delta"');
  expect(problem.detail).toContain('alpha, beta, demo, demo-inpaint, gamma');
  expect(await driver.queue.depth()).toBe(0);
});

it('serves a model directory added to MODELS_DIR while it runs', async () => {
  await writeFixtureModel(path.join(modelsDir, 'delta'), { seed: 4 });
  // The worker looks again at its next heartbeat.
  await until('delta to be served', async () => (await listed()).delta?.served, 30_000);
  expect(await generate('delta')).toMatchObject({ status: 'succeeded', model: 'delta' });
});
