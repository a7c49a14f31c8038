import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDemoModel, StableDiffusionPipeline } from '../../src';
import { GiraffeError } from '../../src/errors';

// Each broken directory must fail at load with one message that names the
// file and what is wrong with it.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-broken-'));
let demoDir: string;

beforeAll(async () => {
  demoDir = await ensureDemoModel(path.join(tmp, 'data'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function brokenCopy(name: string, breakIt: (dir: string) => void): string {
  const dir = path.join(tmp, name);
  fs.cpSync(demoDir, dir, { recursive: true });
  breakIt(dir);
  return dir;
}

async function loadError(dir: string): Promise<GiraffeError> {
  const err = await StableDiffusionPipeline.load(dir).then(
    async (p) => {
      await p.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GiraffeError);
  return err as GiraffeError;
}

const swapOnnx = (dir: string, from: string, to: string): void => {
  fs.copyFileSync(path.join(demoDir, from, 'model.onnx'), path.join(dir, to, 'model.onnx'));
};

it.each<[string, (dir: string) => void, string, RegExp]>([
  [
    'missing unet',
    (d) => fs.rmSync(path.join(d, 'unet'), { recursive: true }),
    'GIRAFFE_ERR_MODEL_FILE_MISSING',
    /unet\/model\.onnx: is missing/,
  ],
  [
    'missing model_index.json',
    (d) => fs.rmSync(path.join(d, 'model_index.json')),
    'GIRAFFE_ERR_MODEL_FILE_MISSING',
    /model_index\.json: is missing/,
  ],
  [
    'missing merges',
    (d) => fs.rmSync(path.join(d, 'tokenizer', 'merges.txt')),
    'GIRAFFE_ERR_MODEL_FILE_MISSING',
    /tokenizer\/merges\.txt: is missing/,
  ],
  [
    'broken scheduler JSON',
    (d) => fs.writeFileSync(path.join(d, 'scheduler', 'scheduler_config.json'), '{ not json'),
    'GIRAFFE_ERR_MODEL_LOAD_FAILED',
    /scheduler_config\.json: is not valid JSON/,
  ],
  [
    'truncated ONNX file',
    (d) =>
      fs.writeFileSync(
        path.join(d, 'vae_decoder', 'model.onnx'),
        fs.readFileSync(path.join(demoDir, 'vae_decoder', 'model.onnx')).subarray(0, 100),
      ),
    'GIRAFFE_ERR_MODEL_LOAD_FAILED',
    /vae_decoder\/model\.onnx: onnxruntime could not load it/,
  ],
  [
    'empty ONNX file',
    (d) => fs.writeFileSync(path.join(d, 'text_encoder', 'model.onnx'), ''),
    'GIRAFFE_ERR_MODEL_LOAD_FAILED',
    /text_encoder\/model\.onnx: is empty/,
  ],
  [
    'VAE where the U-Net should be',
    (d) => swapOnnx(d, 'vae_decoder', 'unet'),
    'GIRAFFE_ERR_MODEL_CONTRACT',
    /unet\/model\.onnx: has no input "sample"/,
  ],
  [
    'U-Net where the text encoder should be',
    (d) => swapOnnx(d, 'unet', 'text_encoder'),
    'GIRAFFE_ERR_MODEL_CONTRACT',
    /text_encoder\/model\.onnx: has no input "input_ids"/,
  ],
  [
    'bad VAE scaling factor',
    (d) => fs.writeFileSync(path.join(d, 'vae_decoder', 'config.json'), '{"scaling_factor": -1}'),
    'GIRAFFE_ERR_MODEL_LOAD_FAILED',
    /scaling_factor must be a positive number/,
  ],
])('%s', async (name, breakIt, code, message) => {
  const err = await loadError(brokenCopy(name.replace(/\W+/g, '-'), breakIt));
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
});

it('names a directory that does not exist', async () => {
  const err = await loadError(path.join(tmp, 'does-not-exist'));
  expect(err.code).toBe('GIRAFFE_ERR_MODEL_NOT_FOUND');
  expect(err.message).toContain('does-not-exist');
});
