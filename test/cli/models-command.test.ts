import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ensureDemoModel } from '../../src/pipeline';
import { FakeHub, readTree } from '../helpers/fake-hub';

// `giraffe models …` as an operator runs it (the built CLI; npm test builds
// first), pulling from a local stand-in for the Hub through HF_ENDPOINT.
const run = promisify(execFile);
const bin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-models-cli-'));
const modelsDir = path.join(tmp, 'models');
const REPO = 'giraffe-test/tiny-sd-onnx';
let hub: FakeHub;

async function giraffe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: modelsDir,
    HF_ENDPOINT: hub.endpoint,
    HF_TOKEN: 'hf_test_token',
  };
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env, cwd: tmp });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  const files = readTree(await ensureDemoModel(path.join(tmp, 'demo-source')));
  files.delete('giraffe.json');
  files.set('unet/diffusion_pytorch_model.safetensors', Buffer.alloc(1000));
  hub = await FakeHub.start({ repo: REPO, files, token: 'hf_test_token' });
});
afterAll(async () => {
  await hub?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('pulls, lists, verifies, generates with and removes a model', async () => {
  hub.cut.set('unet/model.onnx', 1);
  const pulled = await giraffe(['models', 'pull', REPO, '--name', 'tiny']);
  expect(pulled).toMatchObject({ code: 0 });
  expect(pulled.stderr).toContain(`pulling ${REPO}@main (commit ${hub.commit.slice(0, 12)})`);
  expect(pulled.stderr).toContain('100%');
  expect(pulled.stdout).toContain(`into ${path.join(modelsDir, 'tiny')}`);
  expect(hub.requestsFor('unet/model.onnx').filter((r) => r.server === 'storage' && r.range)).toHaveLength(1);

  const listed = await giraffe(['models', 'list']);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(
    new RegExp(`^tiny\\s+\\d+(\\.\\d+)? kB\\s+ok\\s+${REPO}@${hub.commit.slice(0, 12)}`, 'm'),
  );
  expect(listed.stdout).toMatch(/^demo\s+-\s+built in/m);

  const verified = await giraffe(['models', 'verify', 'tiny', '--checksums']);
  expect(verified).toMatchObject({ code: 0 });
  expect(verified.stdout).toMatch(/^ok .*tiny: text encoder takes int(32|64) ids, U-Net is float32/);

  const out = path.join(tmp, 'tiny.png');
  const generated = await giraffe([
    'generate',
    'a giraffe',
    '--model',
    'tiny',
    '--steps',
    '3',
    '--width',
    '64',
    '--height',
    '64',
    '--seed',
    '1',
    '--out',
    out,
  ]);
  expect(generated.code).toBe(0);
  expect(fs.readFileSync(out).subarray(1, 4).toString()).toBe('PNG');

  const removed = await giraffe(['models', 'rm', 'tiny']);
  expect(removed).toMatchObject({ code: 0 });
  expect(fs.existsSync(path.join(modelsDir, 'tiny'))).toBe(false);
});

it('lists every problem of a broken model and exits 1', async () => {
  const dir = path.join(modelsDir, 'broken');
  fs.cpSync(await ensureDemoModel(path.join(tmp, 'demo-source')), dir, { recursive: true });
  fs.rmSync(path.join(dir, 'tokenizer', 'vocab.json'));
  fs.rmSync(path.join(dir, 'vae_decoder', 'model.onnx'));
  const r = await giraffe(['models', 'verify', 'broken']);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('2 problems in');
  expect(r.stdout).toMatch(/\[GIRAFFE_ERR_MODEL_FILE_MISSING\] .*tokenizer\/vocab\.json: is missing/);
  expect(r.stdout).toMatch(/\[GIRAFFE_ERR_MODEL_FILE_MISSING\] .*vae_decoder\/model\.onnx: is missing/);
  const listed = await giraffe(['models', 'list']);
  expect(listed.stdout).toMatch(/^broken\s+\S+ kB\s+incomplete \(2 problems\)/m);
});

it('refuses to delete outside MODELS_DIR and names errors with their codes', async () => {
  const outside = path.join(tmp, 'precious');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'model_index.json'), '{}');
  const r = await giraffe(['models', 'rm', outside]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('[GIRAFFE_ERR_MODEL_PATH_REFUSED]');
  expect(fs.existsSync(path.join(outside, 'model_index.json'))).toBe(true);

  const gated = await giraffe(['models', 'pull', 'someone/else']);
  expect(gated.code).toBe(1);
  expect(gated.stderr).toContain('[GIRAFFE_ERR_HUB_NOT_FOUND]');
  expect((await giraffe(['models', 'frobnicate'])).code).toBe(2);
});
