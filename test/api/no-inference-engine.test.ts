import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { createQueueDriver } from '../../src/queue';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { freePort, giraffeBin, killAll, listeningAddress, startChild } from '../helpers/processes';

// DESIGN: an API process never loads onnxruntime. These run the built package (npm test builds
// first) in fresh processes, where a hook on Node's module loader reports every load of
// onnxruntime-node, whoever asks for it.
const root = path.resolve(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-no-ort-'));
const probe = path.join(tmp, 'ort-probe.js');
const MARK = 'GIRAFFE-PROBE onnxruntime-node loaded';
const prefix = testPrefix('no-ort');

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` first (`npm test` does)');
  }
  fs.writeFileSync(
    probe,
    `const Module = require('node:module');
     const load = Module._load;
     Module._load = function (request, ...rest) {
       if (/^onnxruntime-node(\\/|$)/.test(request)) process.stderr.write(${JSON.stringify(MARK + '\n')});
       return load.call(this, request, ...rest);
     };`,
  );
});

afterAll(async () => {
  await killAll();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs `source` in a fresh `node` with the probe; returns what it wrote to stderr. */
function stderrOf(source: string): string {
  const r = spawnSync(process.execPath, ['--require', probe, '-e', source], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status).toBe(0);
  return r.stderr;
}

it('the probe sees onnxruntime-node when the pipeline is loaded (so the checks below can fail)', () => {
  expect(stderrOf("require('./dist/pipeline')")).toContain(MARK);
});

it('importing the API, the job contract, the queue and the request contract loads no onnxruntime', () => {
  const err = stderrOf(
    ['api', 'jobs', 'queue', 'pipeline/contract', 'client', 'cli/serve-command']
      .map((m) => `require('./dist/${m}');`)
      .join(''),
  );
  expect(err).not.toContain(MARK);
});

it('`giraffe serve` as an API replica (REDIS_URL set) serves without loading onnxruntime', async () => {
  const port = await freePort();
  const serve = startChild(
    process.execPath,
    ['--require', probe, giraffeBin, 'serve', '--host', '127.0.0.1', '--port', String(port)],
    {
      ...process.env,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      DATA_DIR: path.join(tmp, 'data'),
      MODELS_DIR: path.join(tmp, 'models'),
      STREAM_TOKEN_SECRET: 'no-ort-test-secret-0123456789',
      LOG_LEVEL: 'info',
    },
  );
  const base = await listeningAddress(serve, 60_000);
  // The API takes jobs only for a model a live worker serves: one that takes none is announced.
  const driver = createQueueDriver({ redisUrl: REDIS_URL, prefix });
  await announceStandInWorker(driver, ['demo']);
  await driver.close();
  // Touch the routes that resolve and validate requests, and list models.
  expect((await fetch(`${base}/v1/models`)).status).toBe(200);
  const submitted = await fetch(`${base}/v1/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'a cat', steps: 2, width: 64, height: 64 }),
  });
  expect(submitted.status).toBe(202);
  expect(serve.output()).toContain('giraffe is serving');
  expect(serve.output()).not.toContain(MARK);
}, 90_000);
