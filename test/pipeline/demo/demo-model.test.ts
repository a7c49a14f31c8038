import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import {
  DEMO_MARKER_FILE,
  DEMO_MODEL_VERSION,
  ensureDemoModel,
  writeDemoModel,
} from '../../../src/pipeline/demo';
import { listFiles, makeTempDir, removeTempDir } from './demo-test-helpers';

let tmp: string;
beforeEach(() => {
  tmp = makeTempDir('demo-model');
});
afterEach(() => removeTempDir(tmp));

const readJson = (...parts: string[]): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(...parts), 'utf8')) as Record<string, unknown>;

function signature(
  list: readonly ort.InferenceSession.ValueMetadata[],
): [string, string, (number | string)[]][] {
  return list.map((m) => {
    if (!m.isTensor) throw new Error(`${m.name} is not a tensor`);
    return [m.name, m.type, [...m.shape]];
  });
}

describe('writeDemoModel', () => {
  it('writes the diffusers ONNX layout with the SD 1.5 scheduler and VAE configs', async () => {
    const dir = path.join(tmp, 'demo');
    await writeDemoModel(dir);
    expect(listFiles(dir)).toEqual(
      [
        'giraffe.json',
        'model_index.json',
        'scheduler/scheduler_config.json',
        'text_encoder/model.onnx',
        'tokenizer/merges.txt',
        'tokenizer/special_tokens_map.json',
        'tokenizer/tokenizer_config.json',
        'tokenizer/vocab.json',
        'unet/config.json',
        'unet/model.onnx',
        'vae_decoder/config.json',
        'vae_decoder/model.onnx',
        'vae_encoder/config.json',
        'vae_encoder/model.onnx',
      ].map((p) => p.split('/').join(path.sep)),
    );
    expect(readJson(dir, 'scheduler', 'scheduler_config.json')).toMatchObject({
      _class_name: 'PNDMScheduler',
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      beta_end: 0.012,
      num_train_timesteps: 1000,
      steps_offset: 1,
      set_alpha_to_one: false,
      skip_prk_steps: true,
    });
    expect(readJson(dir, 'vae_decoder', 'config.json')).toMatchObject({ scaling_factor: 0.18215 });
    expect(readJson(dir, 'model_index.json')).toMatchObject({ unet: ['diffusers', 'OnnxRuntimeModel'] });
    expect(readJson(dir, DEMO_MARKER_FILE)).toMatchObject({
      format: 'giraffe-demo',
      version: DEMO_MODEL_VERSION,
    });
    expect(fs.readdirSync(tmp)).toEqual(['demo']); // no temp directories left behind
  });

  it('writes a CLIP-format byte-level BPE tokenizer with the special tokens last', async () => {
    const dir = path.join(tmp, 'demo');
    await writeDemoModel(dir);
    const vocab = readJson(dir, 'tokenizer', 'vocab.json') as Record<string, number>;
    const ids = Object.values(vocab).sort((a, b) => a - b);
    expect(ids).toEqual(ids.map((_, i) => i)); // dense ids
    expect(vocab['!']).toBe(0);
    expect(vocab['!</w>']).toBe(256);
    expect(vocab['<|startoftext|>']).toBe(ids.length - 2);
    expect(vocab['<|endoftext|>']).toBe(ids.length - 1);
    const lines = fs
      .readFileSync(path.join(dir, 'tokenizer', 'merges.txt'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(lines[0]).toBe('#version: 0.2');
    expect(lines.length - 1).toBeGreaterThan(300);
    for (const line of lines.slice(1)) {
      const [left, right] = line.split(' ');
      expect(vocab[left + right]).toBeDefined();
    }
    for (const word of ['a', 'photo', 'giraffe', 'astronaut', 'sunset', 'painting'])
      expect(vocab[`${word}</w>`]).toBeDefined();
    expect(readJson(dir, 'tokenizer', 'special_tokens_map.json')).toMatchObject({
      pad_token: '<|endoftext|>',
    });
    expect(readJson(dir, 'tokenizer', 'tokenizer_config.json')).toMatchObject({
      model_max_length: 77,
      pad_token: '<|endoftext|>',
    });
  });

  it('is deterministic: two writes give identical bytes for every file', async () => {
    const t0 = performance.now();
    await writeDemoModel(path.join(tmp, 'a'));
    const elapsed = performance.now() - t0;
    await writeDemoModel(path.join(tmp, 'b'));
    const files = listFiles(path.join(tmp, 'a'));
    expect(listFiles(path.join(tmp, 'b'))).toEqual(files);
    for (const f of files) {
      expect(fs.readFileSync(path.join(tmp, 'b', f)).equals(fs.readFileSync(path.join(tmp, 'a', f)))).toBe(
        true,
      );
    }
    const bytes = files.reduce((sum, f) => sum + fs.statSync(path.join(tmp, 'a', f)).size, 0);
    console.log(
      `demo model: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB, written in ${elapsed.toFixed(0)} ms`,
    );
  });

  it('loads in onnxruntime with the contract names, dtypes and shapes', async () => {
    const dir = path.join(tmp, 'demo');
    await writeDemoModel(dir);
    const expected: Record<string, { inputs: unknown; outputs: unknown }> = {
      text_encoder: {
        inputs: [['input_ids', 'int32', ['batch', 77]]],
        outputs: [
          ['last_hidden_state', 'float32', ['batch', 77, 32]],
          ['pooler_output', 'float32', ['batch', 32]],
        ],
      },
      unet: {
        inputs: [
          ['sample', 'float32', ['batch', 4, 'height', 'width']],
          ['timestep', 'float32', ['batch']],
          ['encoder_hidden_states', 'float32', ['batch', 77, 32]],
        ],
        outputs: [['out_sample', 'float32', ['batch', 4, 'height', 'width']]],
      },
      vae_decoder: {
        inputs: [['latent_sample', 'float32', ['batch', 4, 'height', 'width']]],
        outputs: [['sample', 'float32', ['batch', 3, 'image_height', 'image_width']]],
      },
    };
    for (const [component, io] of Object.entries(expected)) {
      const session = await ort.InferenceSession.create(path.join(dir, component, 'model.onnx'));
      expect([component, signature(session.inputMetadata), signature(session.outputMetadata)]).toEqual([
        component,
        io.inputs,
        io.outputs,
      ]);
      await session.release();
    }
  });

  it('replaces an existing directory', async () => {
    const dir = path.join(tmp, 'demo');
    fs.mkdirSync(path.join(dir, 'stale'), { recursive: true });
    await writeDemoModel(dir);
    expect(fs.existsSync(path.join(dir, 'stale'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'unet', 'model.onnx'))).toBe(true);
  });
});

describe('ensureDemoModel', () => {
  it('generates <dataDir>/models/demo once and then reuses it', async () => {
    const dataDir = path.join(tmp, 'data');
    const dir = await ensureDemoModel(dataDir);
    expect(dir).toBe(path.join(path.resolve(dataDir), 'models', 'demo'));
    const marker = path.join(dir, DEMO_MARKER_FILE);
    const inode = fs.statSync(marker).ino;
    expect(await ensureDemoModel(dataDir)).toBe(dir);
    expect(fs.statSync(marker).ino).toBe(inode);
  });

  it('regenerates when the marker names another generator version', async () => {
    const dataDir = path.join(tmp, 'data');
    const dir = await ensureDemoModel(dataDir);
    fs.writeFileSync(
      path.join(dir, DEMO_MARKER_FILE),
      JSON.stringify({ format: 'giraffe-demo', version: DEMO_MODEL_VERSION - 1 }),
    );
    fs.rmSync(path.join(dir, 'unet'), { recursive: true });
    expect(await ensureDemoModel(dataDir)).toBe(dir);
    expect(fs.existsSync(path.join(dir, 'unet', 'model.onnx'))).toBe(true);
    expect(readJson(dir, DEMO_MARKER_FILE)).toMatchObject({ version: DEMO_MODEL_VERSION });
  });

  it('lets several processes race to replace a stale copy', async () => {
    const dataDir = path.join(tmp, 'data');
    const dir = await ensureDemoModel(dataDir);
    fs.writeFileSync(
      path.join(dir, DEMO_MARKER_FILE),
      JSON.stringify({ format: 'giraffe-demo', version: 0 }),
    );
    const entry = path.resolve(__dirname, '../../../src/pipeline/demo/index.ts');
    const script = `require(${JSON.stringify(entry)}).ensureDemoModel(process.argv[1]).then((d) => process.stdout.write(d))`;
    const run = promisify(execFile);
    const outputs = await Promise.all(
      [1, 2, 3].map(() =>
        run(process.execPath, ['--import', 'tsx', '-e', script, dataDir], {
          cwd: path.resolve(__dirname, '../../..'),
        }),
      ),
    );
    expect(outputs.map((o) => o.stdout)).toEqual([dir, dir, dir]);
    expect(fs.readdirSync(path.join(dataDir, 'models'))).toEqual(['demo']);
    expect(readJson(dir, DEMO_MARKER_FILE)).toMatchObject({ version: DEMO_MODEL_VERSION });
  });

  it('survives concurrent first calls and leaves one complete copy', async () => {
    const dataDir = path.join(tmp, 'data');
    const dirs = await Promise.all([1, 2, 3, 4].map(() => ensureDemoModel(dataDir)));
    expect(new Set(dirs).size).toBe(1);
    expect(fs.readdirSync(path.join(dataDir, 'models'))).toEqual(['demo']);
    await writeDemoModel(path.join(tmp, 'reference'));
    for (const f of listFiles(path.join(tmp, 'reference'))) {
      expect(
        fs.readFileSync(path.join(dirs[0], f)).equals(fs.readFileSync(path.join(tmp, 'reference', f))),
      ).toBe(true);
    }
  });
});
