import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api';
import { ensureBuiltInModels } from '../../src/cli/built-in-models';
import { loadConfig } from '../../src/config';
import type { JobEvent } from '../../src/jobs';
import { writeFixtureModel } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { killAll, readyWorkerId, startGiraffe, until, type Child } from '../helpers/processes';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';

// Distributed mode with real `giraffe worker` processes, one per model, and
// the API in this process: each model's jobs run on its worker; when a
// worker stops, a job for its model is refused at submit (503), and a job
// queued while its dead worker was still announced fails after
// UNSERVED_MODEL_TIMEOUT_MS with an error that says why.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-unserved-'));
const prefix = testPrefix('unserved');
const dataDir = path.join(tmp, 'data');
const modelsDir = path.join(tmp, 'models');
const env = {
  REDIS_URL,
  REDIS_PREFIX: prefix,
  DATA_DIR: dataDir,
  MODELS_DIR: modelsDir,
  ORT_INTRA_OP_THREADS: '1',
  SHUTDOWN_GRACE_MS: '0',
  LOG_LEVEL: 'info',
};
const models = ['alpha', 'beta', 'gamma'];
const workers = new Map<string, { child: Child; id: string }>();
let driver: QueueDriver;
let app: FastifyInstance;

async function submit(model: string, wait = false, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: `/v1/generate${wait ? '?wait=true' : ''}`,
    headers,
    payload: { prompt: 'a giraffe', model, steps: 2, width: 64, height: 64, seed: 5 },
  });
}

async function served(): Promise<Record<string, boolean>> {
  const body = (await app.inject({ method: 'GET', url: '/v1/models' })).json();
  return Object.fromEntries((body.models as { id: string; served: boolean }[]).map((m) => [m.id, m.served]));
}

beforeAll(async () => {
  for (const [seed, name] of models.entries()) {
    await writeFixtureModel(path.join(modelsDir, name), { seed: seed + 1 });
  }
  const started = models.map((name) => ({ name, child: startGiraffe(['worker', '--model', name], env) }));
  for (const { name, child } of started)
    workers.set(name, { child, id: await readyWorkerId(child, 120_000) });
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent', UNSERVED_MODEL_TIMEOUT_MS: '1000' });
  driver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir });
  // As `giraffe serve` builds it with REDIS_URL set.
  app = await buildApp({
    config,
    driver,
    logger: pino({ level: 'silent' }),
    extraModels: await ensureBuiltInModels(dataDir),
  });
}, 180_000);

afterAll(async () => {
  await killAll();
  await app?.close();
  await driver?.close();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('lists each model with its worker, and runs a job for each on the worker that serves it', async () => {
  expect(await served()).toEqual({
    alpha: true,
    beta: true,
    gamma: true,
    demo: false,
    'demo-inpaint': false,
  });
  for (const model of models) {
    const response = await submit(model, true);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: 'succeeded', model, worker: workers.get(model)!.id });
  }
  // The built-in demo is known but no worker serves it: refused, not queued.
  const demo = await submit('demo');
  expect(demo.statusCode).toBe(503);
  expect(demo.json()).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_UNSERVED' });
}, 120_000);

it('refuses a job for a model whose worker stopped with 503, Retry-After and the models still served', async () => {
  const retried = { 'idempotency-key': 'gamma-order-1' };
  const first = await submit('gamma', true, retried);
  expect(first.json()).toMatchObject({ status: 'succeeded', model: 'gamma' });
  const gamma = workers.get('gamma')!.child;
  gamma.process.kill('SIGTERM');
  expect(await gamma.exited).toBe(0);
  // A stopping worker leaves the registry at once; the API's listing is at most a second old.
  await until('gamma to be unserved', async () => (await served()).gamma === false);
  const response = await submit('gamma');
  expect(response.statusCode).toBe(503);
  expect(response.headers['retry-after']).toBe('10');
  const problem = response.json();
  expect(problem).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_UNSERVED', status: 503 });
  expect(problem.detail).toContain('no worker serves "gamma"');
  expect(problem.detail).toContain('models served: alpha, beta');
  expect(await driver.queue.depth('gamma')).toBe(0);
  // A retried request (same Idempotency-Key) still gets the job it made.
  const replay = await submit('gamma', false, retried);
  expect(replay.statusCode).toBe(202);
  expect(replay.headers['idempotent-replayed']).toBe('true');
  expect(replay.json()).toMatchObject({ id: first.json().id, status: 'succeeded' });
}, 60_000);

it('fails a job queued for a model whose worker died, after UNSERVED_MODEL_TIMEOUT_MS, saying why', async () => {
  const beta = workers.get('beta')!;
  await beta.child.kill(); // SIGKILL: its announcement outlives it until the heartbeat TTL
  const accepted = await submit('beta');
  expect(accepted.statusCode).toBe(202);
  const id = accepted.json().id as string;
  const events: JobEvent[] = [];
  const stop = await driver.events.subscribe(id, (e) => e.type !== 'preview' && events.push(e));
  try {
    const failed = await until(
      'the beta job to fail',
      async () =>
        events.find((e) => e.type === 'failed') ??
        ((await driver.queue.get(id))?.status === 'failed' ? (await driver.queue.get(id))! : undefined),
      60_000,
    );
    expect(failed).toMatchObject({ error: { code: 'GIRAFFE_ERR_MODEL_UNSERVED' } });
  } finally {
    await stop();
  }
  const record = (await driver.queue.get(id))!;
  expect(record.status).toBe('failed');
  expect(record.error?.message).toMatch(/no worker has served model "beta" for \d+ s/);
  // Now the API knows too: a new job is refused at submit, while alpha still runs jobs.
  expect((await submit('beta')).statusCode).toBe(503);
  const alpha = await submit('alpha', true);
  expect(alpha.json()).toMatchObject({ status: 'succeeded', model: 'alpha' });
}, 90_000);
