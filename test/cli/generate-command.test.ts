import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { readPngTextChunks, parseA1111Parameters } from '../../src';
import { startDemoService } from '../helpers/demo-service';
import { REDIS_URL } from '../helpers/redis';

// Runs the built CLI (npm test builds first) as a user would.
const run = promisify(execFile);
const bin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-cli-'));
const env = { ...process.env, DATA_DIR: path.join(tmp, 'data'), MODELS_DIR: path.join(tmp, 'models') };

async function giraffe(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...env, ...extraEnv },
      cwd: tmp,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

it('generates an image on the demo model, with a progress bar, the seed and timings', async () => {
  const out = path.join(tmp, 'giraffe.png');
  const r = await giraffe([
    'generate',
    'a giraffe eating a building',
    '--out',
    out,
    '--steps',
    '8',
    '--seed',
    '77',
    '--width',
    '128',
    '--height',
    '96',
    '--scheduler',
    'euler',
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('seed 77');
  expect(r.stdout).toMatch(/time \d+\.\d+ s/);
  expect(r.stderr).toContain('8/8 steps');
  const png = fs.readFileSync(out);
  expect(parseA1111Parameters(readPngTextChunks(png).parameters)).toMatchObject({
    prompt: 'a giraffe eating a building',
    seed: 77,
    steps: 8,
    width: 128,
    height: 96,
  });

  const again = path.join(tmp, 'again.png');
  expect(
    (
      await giraffe([
        'generate',
        'a giraffe eating a building',
        '--out',
        again,
        '--steps',
        '8',
        '--seed',
        '77',
        '--width',
        '128',
        '--height',
        '96',
        '--scheduler',
        'euler',
      ])
    ).code,
  ).toBe(0);
  expect(fs.readFileSync(again).equals(png)).toBe(true);
});

it('picks the format from the extension and numbers several images', async () => {
  const r = await giraffe([
    'generate',
    'two giraffes',
    '--out',
    path.join(tmp, 'pair.webp'),
    '--steps',
    '2',
    '--num-images',
    '2',
    '--width',
    '64',
    '--height',
    '64',
  ]);
  expect(r.code).toBe(0);
  expect(fs.existsSync(path.join(tmp, 'pair-1.webp'))).toBe(true);
  expect(fs.existsSync(path.join(tmp, 'pair-2.webp'))).toBe(true);
});

it.each([
  [['generate'], 2, /a prompt is required/],
  [['generate', 'x', '--steps', 'many'], 1, /--steps: "many" is not a number/],
  [['generate', 'x', '--width', '100'], 1, /width: must be a multiple of 8/],
  [['generate', 'x', '--scheduler', 'heun'], 1, /scheduler/],
  [['generate', 'x', '--model', 'no-such-model'], 1, /model "no-such-model" not found/],
  [['generate', 'x', '--bogus'], 2, /Unknown option '--bogus'/],
  [['frobnicate'], 2, /unknown command "frobnicate"/],
])('%j exits %i with a clear message', async (args, code, message) => {
  const r = await giraffe(args);
  expect(r.code).toBe(code);
  expect(r.stderr).toMatch(message);
});

it('stops on an invalid setting, naming the variable', async () => {
  const r = await giraffe(['generate', 'x'], { PORT: 'eighty' });
  expect(r.code).toBe(78);
  expect(r.stderr).toContain('PORT');
});

it('refuses a CUDA device when onnxruntime-node has no CUDA provider, saying how to install it', async () => {
  const r = await giraffe(['worker', '--device', 'cuda:0'], {
    REDIS_URL,
    REDIS_PREFIX: '{giraffe-test-cli-cuda}',
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
  expect(r.stderr).toContain('GIRAFFE_ERR_DEVICE_UNAVAILABLE');
});

it('giraffe worker without REDIS_URL explains that serve runs its own worker', async () => {
  const r = await giraffe(['worker']);
  expect(r.code).toBe(78);
  expect(r.stderr).toContain('REDIS_URL');
});

it('runs on a giraffe service with --server: follows the job stream with a progress bar and downloads the image', async () => {
  const service = await startDemoService({ env: { API_KEYS: 'cli-key' } });
  try {
    const base = await service.app.listen({ port: 0, host: '127.0.0.1' });
    const out = path.join(tmp, 'remote.png');
    const r = await giraffe([
      'generate',
      'a remote giraffe',
      '--server',
      base,
      '--api-key',
      'cli-key',
      '--steps',
      '6',
      '--seed',
      '11',
      '--out',
      out,
    ]);
    // The model's default scheduler (PNDM) makes one U-Net call more than the steps asked for.
    expect(r.stderr).toMatch(/denoising \|.*\| (\d+)\/\1 steps/);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/seed 11 · job [0-9a-f-]+/);
    const meta = await sharp(fs.readFileSync(out)).metadata();
    expect(meta.format).toBe('png');
    // The same seed on the same model, generated locally, makes the same bytes.
    const local = path.join(tmp, 'local.png');
    expect(
      (await giraffe(['generate', 'a remote giraffe', '--steps', '6', '--seed', '11', '--out', local])).code,
    ).toBe(0);
    expect(fs.readFileSync(out).equals(fs.readFileSync(local))).toBe(true);

    const refused = await giraffe(['generate', 'no key', '--server', base]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/401|API key/);
  } finally {
    await service.close();
  }
}, 90_000);
