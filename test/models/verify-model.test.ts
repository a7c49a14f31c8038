import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listModels, modelDirectory, removeModel, verifyModel, SOURCE_FILE } from '../../src/models';
import { ensureDemoModel } from '../../src/pipeline';
import { GiraffeError } from '../../src/errors';

// `models verify` reports every problem of a directory at once; `list` and
// `rm` stay inside MODELS_DIR.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-verify-'));
const modelsDir = path.join(tmp, 'models');
let demoDir: string;

beforeAll(async () => {
  demoDir = await ensureDemoModel(path.join(tmp, 'data'));
  fs.mkdirSync(modelsDir);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function copyOfDemo(name: string): string {
  const dir = path.join(modelsDir, name);
  fs.cpSync(demoDir, dir, { recursive: true });
  return dir;
}

describe('verifyModel', () => {
  it('passes the demo model and says what its sessions declare', async () => {
    const report = await verifyModel(demoDir);
    expect(report.problems).toEqual([]);
    expect(report.contract).toMatchObject({
      textEncoder: { sequenceLength: 77 },
      unet: { latentChannels: 4, precision: 'float32' },
    });
  });

  it('reports every problem at once, each with its file and code', async () => {
    const dir = copyOfDemo('broken');
    fs.rmSync(path.join(dir, 'tokenizer', 'merges.txt'));
    fs.writeFileSync(path.join(dir, 'scheduler', 'scheduler_config.json'), '{ not json');
    // A VAE decoder where the U-Net should be: loads fine, breaks the contract in several ways.
    fs.copyFileSync(path.join(demoDir, 'vae_decoder', 'model.onnx'), path.join(dir, 'unet', 'model.onnx'));
    // A truncated text encoder: onnxruntime cannot open it.
    const te = path.join(dir, 'text_encoder', 'model.onnx');
    fs.writeFileSync(te, fs.readFileSync(te).subarray(0, 200));

    const report = await verifyModel(dir);
    const found = report.problems.map((p) => `${p.code} ${p.message}`);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^GIRAFFE_ERR_MODEL_FILE_MISSING .*tokenizer\/merges\.txt: is missing/),
        expect.stringMatching(/^GIRAFFE_ERR_MODEL_LOAD_FAILED .*scheduler_config\.json: is not valid JSON/),
        expect.stringMatching(
          /^GIRAFFE_ERR_MODEL_LOAD_FAILED text_encoder\/model\.onnx: onnxruntime could not load/,
        ),
      ]),
    );
    expect(report.contract).toBeUndefined();
    // Quick mode stops before onnxruntime, with the file problems alone.
    const quick = await verifyModel(dir, { load: false });
    expect(quick.problems.map((p) => p.code)).toEqual([
      'GIRAFFE_ERR_MODEL_LOAD_FAILED',
      'GIRAFFE_ERR_MODEL_FILE_MISSING',
    ]);
  });

  it('lists every contract mismatch of sessions that load', async () => {
    const dir = copyOfDemo('swapped');
    fs.copyFileSync(path.join(demoDir, 'vae_decoder', 'model.onnx'), path.join(dir, 'unet', 'model.onnx'));
    fs.copyFileSync(path.join(demoDir, 'unet', 'model.onnx'), path.join(dir, 'vae_decoder', 'model.onnx'));
    const report = await verifyModel(dir);
    const messages = report.problems.map((p) => p.message);
    expect(report.problems.every((p) => p.code === 'GIRAFFE_ERR_MODEL_CONTRACT')).toBe(true);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^unet\/model\.onnx: has no input "sample"/),
        expect.stringMatching(/^unet\/model\.onnx: has no input "timestep"/),
        expect.stringMatching(/^vae_decoder\/model\.onnx: has no input "latent_sample"/),
      ]),
    );
  });

  it('checks the sizes a pull recorded, and their sha256 with checksums', async () => {
    const dir = copyOfDemo('recorded');
    const unet = fs.readFileSync(path.join(dir, 'unet', 'model.onnx'));
    fs.writeFileSync(
      path.join(dir, SOURCE_FILE),
      JSON.stringify({
        repo: 'x/y',
        revision: 'main',
        commit: '0'.repeat(40),
        endpoint: 'http://hub',
        pulled_at: new Date().toISOString(),
        files: [
          {
            path: 'unet/model.onnx',
            size: unet.length,
            sha256: createHash('sha256').update(unet).digest('hex'),
          },
          { path: 'unet/config.json', size: 3 },
          { path: 'taesd/model.onnx', size: 10 },
        ],
      }),
    );
    const sizes = (await verifyModel(dir, { load: false })).problems.map((p) => `${p.code} ${p.message}`);
    expect(sizes).toEqual([
      expect.stringMatching(
        /^GIRAFFE_ERR_MODEL_CHECKSUM_MISMATCH .*unet\/config\.json: is \d+ bytes, the pull fetched 3/,
      ),
      expect.stringMatching(/^GIRAFFE_ERR_MODEL_FILE_MISSING .*taesd\/model\.onnx: is missing/),
    ]);
    // Same size, other bytes: only the checksum pass sees it.
    const flipped = Buffer.from(unet);
    flipped[flipped.length - 1] ^= 0xff;
    fs.writeFileSync(path.join(dir, 'unet', 'model.onnx'), flipped);
    expect((await verifyModel(dir, { load: false })).problems).toHaveLength(2);
    const hashed = await verifyModel(dir, { load: false, checksums: true });
    expect(hashed.problems.map((p) => p.message)).toContainEqual(
      expect.stringMatching(/unet\/model\.onnx: has sha256/),
    );
  });

  it('names a directory that does not exist', async () => {
    const report = await verifyModel(path.join(tmp, 'nowhere'));
    expect(report.problems.map((p) => p.code)).toEqual(['GIRAFFE_ERR_MODEL_NOT_FOUND']);
  });
});

describe('listModels and removeModel', () => {
  const sideDir = path.join(tmp, 'outside');

  beforeAll(() => {
    fs.mkdirSync(sideDir);
    copyOfDemo('keep');
    fs.cpSync(demoDir, path.join(sideDir, 'victim'), { recursive: true });
    fs.mkdirSync(path.join(modelsDir, 'not-a-model'));
    fs.writeFileSync(path.join(modelsDir, 'not-a-model', 'notes.txt'), 'mine');
    fs.symlinkSync(path.join(sideDir, 'victim'), path.join(modelsDir, 'linked'));
  });

  it('lists each model with its size and status', () => {
    const models = listModels(modelsDir);
    const keep = models.find((m) => m.name === 'keep')!;
    expect(keep.status).toBe('ok');
    const bytes = fs
      .readdirSync(demoDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((sum, e) => sum + fs.statSync(path.join(e.parentPath, e.name)).size, 0);
    expect(keep.bytes).toBe(bytes);
    expect(models.find((m) => m.name === 'broken')).toMatchObject({ status: 'incomplete' });
    expect(models.map((m) => m.name)).not.toContain('not-a-model');
  });

  it.each([
    ['a path outside', () => path.join(sideDir, 'victim')],
    ['a climb out of it', () => '../outside/victim'],
    ['a relative path that leaves it', () => path.relative(process.cwd(), path.join(sideDir, 'victim'))],
    ['a link that leads out of it', () => 'linked'],
    ['a directory that is not a model', () => 'not-a-model'],
    ['MODELS_DIR itself', () => modelsDir],
  ])('refuses %s, and deletes nothing', async (_what, arg) => {
    const err = await removeModel(modelsDir, arg()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GiraffeError);
    expect((err as GiraffeError).code).toBe('GIRAFFE_ERR_MODEL_PATH_REFUSED');
    expect(fs.existsSync(path.join(sideDir, 'victim', 'unet', 'model.onnx'))).toBe(true);
    expect(fs.existsSync(path.join(modelsDir, 'not-a-model', 'notes.txt'))).toBe(true);
  });

  it('deletes a model by name or by its path inside MODELS_DIR', async () => {
    copyOfDemo('gone');
    expect((await removeModel(modelsDir, 'gone')).bytes).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(modelsDir, 'gone'))).toBe(false);
    copyOfDemo('gone-too');
    await removeModel(modelsDir, path.join(modelsDir, 'gone-too'));
    expect(fs.existsSync(path.join(modelsDir, 'gone-too'))).toBe(false);
    const missing = await removeModel(modelsDir, 'gone').catch((e: GiraffeError) => e);
    expect(missing).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_NOT_FOUND' });
    expect(modelDirectory(modelsDir, 'keep').dir).toBe(path.join(fs.realpathSync(modelsDir), 'keep'));
  });
});
