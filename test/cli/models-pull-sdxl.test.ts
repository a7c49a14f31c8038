import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { formatBytes } from '../../src/cli/models-command';
import { writeFixtureModel } from '../../src/pipeline';
import { FakeHub, readTree } from '../helpers/fake-hub';

// `giraffe models pull --revision` of an SDXL-layout export, and the early
// refusal of a model giraffe cannot run, as an operator sees them (the built
// CLI; npm test builds first).
const run = promisify(execFile);
const bin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-pull-sdxl-cli-'));
const REPO = 'giraffe-test/tiny-sdxl-onnx';
let files: Map<string, Buffer>;

async function giraffe(
  hub: FakeHub,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    HF_ENDPOINT: hub.endpoint,
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
  const dir = path.join(tmp, 'source');
  await writeFixtureModel(dir, { family: 'sdxl', externalData: 'model.onnx_data' });
  files = readTree(dir);
  files.delete('giraffe.json');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

it('pulls an SDXL export from refs/pr/N with --revision, showing the total before the weights', async () => {
  const hub = await FakeHub.start({ repo: REPO, files, revisions: ['refs/pr/7'] });
  try {
    const pulled = await giraffe(hub, ['models', 'pull', REPO, '--revision', 'refs/pr/7', '--name', 'sdxl']);
    expect(pulled).toMatchObject({ code: 0 });
    expect(pulled.stderr).toContain(`pulling ${REPO}@refs/pr/7 (commit ${hub.commit.slice(0, 12)})`);
    const total = [...files.values()].reduce((n, b) => n + b.length, 0);
    expect(pulled.stderr).toContain(`${files.size} files, ${formatBytes(total)} from ${hub.endpoint}`);
    expect(pulled.stdout).toContain(`into ${path.join(tmp, 'models', 'sdxl')}`);
    const verified = await giraffe(hub, ['models', 'verify', 'sdxl']);
    expect(verified).toMatchObject({ code: 0 });
    expect(verified.stdout).toContain('SDXL: two text encoders');
  } finally {
    await hub.close();
  }
});

it('refuses a Stable Diffusion 3 repository with the reason and its code, fetching no weights', async () => {
  const sd3 = new Map(files);
  sd3.set(
    'model_index.json',
    Buffer.from(
      JSON.stringify({
        _class_name: 'StableDiffusion3Pipeline',
        transformer: ['diffusers', 'SD3Transformer2DModel'],
        text_encoder: ['transformers', 'CLIPTextModelWithProjection'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
      }),
    ),
  );
  const hub = await FakeHub.start({ repo: REPO, files: sd3 });
  try {
    const refused = await giraffe(hub, ['models', 'pull', REPO, '--name', 'sd3']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('GIRAFFE_ERR_MODEL_UNSUPPORTED');
    expect(refused.stderr).toContain('StableDiffusion3Pipeline');
    expect(hub.requestsFor('unet/model.onnx_data')).toEqual([]);
  } finally {
    await hub.close();
  }
});
