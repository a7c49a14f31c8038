import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { isGiraffeError } from '../../src/errors';
import { writeFixtureModel } from '../../src/pipeline';
import { estimateModelFootprint } from '../../src/worker/model-footprint';
import { ModelHost } from '../../src/worker/model-host';

// The embedded worker's model cache on its own: loads on first use, the
// budget, what may and may not be unloaded, and a load that fails.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-model-host-'));
const dirOf = (name: string) => path.join(tmp, name);
let footprint: number;
const hosts: ModelHost[] = [];

function host(budgetBytes: number): { host: ModelHost; logs: Record<string, unknown>[] } {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const made = new ModelHost(
    ['alpha', 'beta', 'gamma'].map((id) => ({ id, dir: dirOf(id) })),
    { device: 'cpu', copies: 1, intraOpThreads: 1, budgetBytes, logger: pino({ level: 'info' }, sink) },
  );
  hosts.push(made);
  return { host: made, logs };
}

beforeAll(async () => {
  for (const [seed, name] of ['alpha', 'beta', 'gamma'].entries()) {
    await writeFixtureModel(dirOf(name), { seed: seed + 1 });
  }
  footprint = estimateModelFootprint(dirOf('alpha'));
  // Weights dominate: the estimate is the files' bytes, graphs included.
  expect(footprint).toBeGreaterThan(100_000);
}, 60_000);

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

it('never unloads a model in use, nor loads beside it over budget: the load waits until it is idle', async () => {
  const { host: models, logs } = host(footprint * 1.5);
  const alpha = await models.acquire('alpha');
  let betaLoaded = false;
  const beta = models.acquire('beta').then((held) => {
    betaLoaded = true;
    return held;
  });
  // The load says it waits (logged as it starts waiting), and nothing was loaded beside alpha.
  while (!logs.some((l) => String(l.msg).startsWith('waiting for a model in use')))
    await new Promise((resolve) => setImmediate(resolve));
  expect(betaLoaded).toBe(false);
  expect(models.loaded).toEqual(['alpha']);
  alpha.release();
  (await beta).release();
  expect(models.loaded).toEqual(['beta']);
  expect(logs.some((l) => String(l.msg).includes('beyond the memory budget'))).toBe(false);
  expect(logs.filter((l) => String(l.msg).startsWith('model unloaded')).map((l) => l.model)).toEqual([
    'alpha',
  ]);
}, 60_000);

it('unloads least recently used idle models first, as many as the next one needs', async () => {
  const { host: models, logs } = host(footprint * 2.5);
  await models.load('alpha');
  await models.load('beta');
  expect(models.loaded.sort()).toEqual(['alpha', 'beta']);
  await models.use('alpha', async () => undefined); // beta is now the least recently used
  await models.load('gamma');
  expect(models.loaded.sort()).toEqual(['alpha', 'gamma']);
  const unloaded = logs.filter((l) => String(l.msg).startsWith('model unloaded')).map((l) => l.model);
  expect(unloaded).toEqual(['beta']);
  expect(models.loadedBytes).toBe(2 * footprint);
}, 60_000);

it('a load waiting for a model in use ends when the host closes', async () => {
  const { host: models } = host(footprint * 1.5);
  await models.acquire('alpha');
  const beta = expect(models.acquire('beta')).rejects.toMatchObject({ code: 'GIRAFFE_ERR_PIPELINE_CLOSED' });
  await models.close();
  await beta;
}, 60_000);

it('loads a model larger than the whole budget alone, and serves it', async () => {
  const { host: models } = host(1);
  await models.load('alpha');
  await models.load('beta');
  expect(models.loaded).toEqual(['beta']);
  const seen = await models.use('beta', async (pool) => pool.info.dir);
  expect(seen).toBe(dirOf('beta'));
}, 60_000);

it('a failed load leaves nothing behind: the next use loads the mended directory', async () => {
  const { host: models } = host(Infinity);
  const unet = path.join(dirOf('gamma'), 'unet', 'model.onnx');
  const saved = path.join(tmp, 'unet.onnx');
  fs.renameSync(unet, saved);
  try {
    const failure = await models.load('gamma').catch((err: unknown) => err);
    expect(isGiraffeError(failure)).toBe(true);
    expect(models.loaded).toEqual([]);
  } finally {
    fs.renameSync(saved, unet);
  }
  await models.load('gamma');
  expect(models.loaded).toEqual(['gamma']);
  expect(Object.keys(models.info)).toEqual(['gamma']);
  const unknown = await models.load('delta').catch((err: unknown) => err);
  expect(isGiraffeError(unknown, 'GIRAFFE_ERR_MODEL_UNKNOWN')).toBe(true);
}, 60_000);
