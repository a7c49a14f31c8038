import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFixtureModel } from '../../src/pipeline';
import { killAll, listeningAddress, startGiraffe, type Child } from '../helpers/processes';

// `npm start` as a new user runs it: no REDIS_URL, two models in MODELS_DIR
// besides DEFAULT_MODEL. Every listed model answers a job (none is left
// queued for ever), and a name it does not serve is refused at once.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-serve-embedded-'));
let serve: Child;
let base: string;

beforeAll(async () => {
  const modelsDir = path.join(tmp, 'models');
  await writeFixtureModel(path.join(modelsDir, 'alpha'), { seed: 1 });
  await writeFixtureModel(path.join(modelsDir, 'beta'), { seed: 2 });
  serve = startGiraffe(['serve', '--host', '127.0.0.1', '--port', '0'], {
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: modelsDir,
    ORT_INTRA_OP_THREADS: '1',
    LOG_LEVEL: 'info',
  });
  base = await listeningAddress(serve, 90_000);
}, 120_000);

afterAll(async () => {
  await killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function generate(model: string): Promise<Response> {
  return fetch(`${base}/v1/generate?wait=true&timeout=60`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'a giraffe', model, steps: 2, width: 64, height: 64, seed: 1 }),
  });
}

it('serves DEFAULT_MODEL (demo) and every model in MODELS_DIR', async () => {
  const listing = (await (await fetch(`${base}/v1/models`)).json()) as {
    default: string;
    models: { id: string; served: boolean }[];
  };
  expect(listing.default).toBe('demo');
  expect(
    (listing.models as { id: string; served: boolean; loaded: boolean }[]).map((m) => [m.id, m.served]),
  ).toEqual([
    ['alpha', true],
    ['beta', true],
    ['demo', true],
    ['demo-inpaint', true],
  ]);
  for (const model of ['alpha', 'beta', 'demo']) {
    const response = await generate(model);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'succeeded', model });
  }
  expect(serve.output()).toContain('"msg":"model loaded"');
}, 120_000);

it('refuses a model it does not serve with 400, naming those it does', async () => {
  const response = await generate('gamma');
  expect(response.status).toBe(400);
  const problem = (await response.json()) as { code: string; detail: string };
  expect(problem.code).toBe('GIRAFFE_ERR_MODEL_UNKNOWN');
  expect(problem.detail).toContain('models served: alpha, beta, demo, demo-inpaint');
});
