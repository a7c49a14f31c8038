import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api';
import { loadConfig } from '../../src/config';
import { isGiraffeError } from '../../src/errors';
import { ensureDemoModel } from '../../src/pipeline';
import { checkSchedulerRequest, readModelDirectory } from '../../src/pipeline/contract';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { announceStandInWorker } from '../helpers/stand-in-worker';

// Each scheduler's own limits are refused at submit (400 with the reason), not accepted and then
// failed by the worker: ddim/pndm/lcm have no Karras sigmas, lcm runs at most the config's
// original_inference_steps. No worker runs here: what the API refuses never reaches the queue.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-scheduler-limits-'));
let app: FastifyInstance;
let driver: QueueDriver;
let demoDir: string;

beforeAll(async () => {
  const config = loadConfig({
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'silent',
  });
  demoDir = await ensureDemoModel(config.DATA_DIR);
  driver = createQueueDriver({ dataDir: config.DATA_DIR });
  // The API takes jobs only for a model a live worker serves; this one takes none.
  await announceStandInWorker(driver, ['demo']);
  app = await buildApp({ config, driver, logger: pino({ level: 'silent' }), extraModels: { demo: demoDir } });
});

afterAll(async () => {
  await app?.close();
  await driver?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const base = { prompt: 'a giraffe', width: 64, height: 64 };

it.each([
  ['ddim with karras', { scheduler: 'ddim', karras: true }, 'karras', /ddim has no Karras sigmas/],
  ['pndm with karras', { scheduler: 'pndm', karras: true }, 'karras', /pndm has no Karras sigmas/],
  ['lcm with karras', { scheduler: 'lcm', karras: true, steps: 4 }, 'karras', /lcm has no Karras sigmas/],
  [
    'lcm with 51 steps',
    { scheduler: 'lcm', steps: 51 },
    'steps',
    /lcm: the step count must be an integer from 1 to 50 \(got 51\)/,
  ],
])('%s → 400 with the reason, nothing queued', async (_name, fields, field, reason) => {
  const before = await driver.queue.depth();
  const res = await app.inject({ method: 'POST', url: '/v1/generate', payload: { ...base, ...fields } });
  expect(res.statusCode).toBe(400);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = res.json();
  expect(problem).toMatchObject({ code: 'GIRAFFE_ERR_REQUEST_INVALID', errors: [{ path: field }] });
  expect(problem.detail).toMatch(reason);
  expect(await driver.queue.depth()).toBe(before);
});

it.each([
  ['lcm with 50 steps', { scheduler: 'lcm', steps: 50 }],
  ['euler with karras', { scheduler: 'euler', karras: true, steps: 150 }],
  ['pndm without karras', { scheduler: 'pndm', steps: 150 }],
])('%s → 202 (within the limits)', async (_name, fields) => {
  const res = await app.inject({ method: 'POST', url: '/v1/generate', payload: { ...base, ...fields } });
  expect(res.statusCode).toBe(202);
});

describe('checkSchedulerRequest', () => {
  const reasonOf = (f: () => void): string | undefined => {
    try {
      f();
      return undefined;
    } catch (err) {
      if (!isGiraffeError(err, 'GIRAFFE_ERR_REQUEST_INVALID')) throw err;
      return err.message;
    }
  };

  it("takes the limits from the model's scheduler config, not from a list of its own", () => {
    const config = readModelDirectory(demoDir).schedulerConfig;
    const lcm8 = { ...config, original_inference_steps: 8 };
    expect(reasonOf(() => checkSchedulerRequest('lcm', lcm8, { steps: 8 }))).toBeUndefined();
    expect(reasonOf(() => checkSchedulerRequest('lcm', lcm8, { steps: 9 }))).toMatch(/from 1 to 8 \(got 9\)/);
    const short = { ...config, num_train_timesteps: 100 };
    expect(reasonOf(() => checkSchedulerRequest('ddim', short, { steps: 101 }))).toMatch(/from 1 to 100/);
    expect(reasonOf(() => checkSchedulerRequest('ddim', config, { steps: 101 }))).toBeUndefined();
  });

  it("leaves a config the scheduler cannot use at all to the worker (the model's fault, not the request's)", () => {
    expect(
      reasonOf(() => checkSchedulerRequest('euler', { beta_schedule: 'cosine' }, { steps: 4 })),
    ).toBeUndefined();
  });
});
