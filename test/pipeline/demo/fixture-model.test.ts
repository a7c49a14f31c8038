import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  fixtureVariants,
  fromFloat16,
  toFloat16,
  writeFixtureModel,
  type FixtureOptions,
} from '../../../src/pipeline/demo';
import { allFinite, listFiles, makeTempDir, removeTempDir, testValues } from './demo-test-helpers';

let tmp: string;
beforeAll(() => {
  tmp = makeTempDir('fixture-model');
});
afterAll(() => removeTempDir(tmp));

const H = 8; // latent side: a 64-pixel image, the fixtures' default size
const D = 32;

function meta(
  session: ort.InferenceSession,
  name: string,
  io: 'input' | 'output',
): ort.InferenceSession.TensorValueMetadata {
  const list = io === 'input' ? session.inputMetadata : session.outputMetadata;
  const m = list.find((x) => x.name === name);
  if (!m?.isTensor) throw new Error(`no tensor ${io} ${name}`);
  return m;
}

describe.each(fixtureVariants)('fixture $name', ({ name, options }) => {
  const fp16 = options.precision === 'fp16';
  const floatType = fp16 ? 'float16' : 'float32';
  const batchDim = typeof options.batch === 'number' ? options.batch : 'batch';
  const B = typeof options.batch === 'number' ? options.batch : 2;
  const dir = (): string => path.join(tmp, name);
  const sessions: Record<string, ort.InferenceSession> = {};

  const floatTensor = (values: Float32Array, dims: number[]): ort.Tensor =>
    fp16 ? new ort.Tensor('float16', toFloat16(values), dims) : new ort.Tensor('float32', values, dims);
  const floats = (t: ort.Tensor): Float32Array => {
    expect(t.type).toBe(floatType);
    return fp16 ? fromFloat16(t.data as Uint16Array) : (t.data as Float32Array);
  };
  const timestepTensor = (t: number): ort.Tensor => {
    switch (options.timestep ?? 'float-batch') {
      case 'int64-batch':
        return new ort.Tensor('int64', new BigInt64Array(B).fill(BigInt(t)), [B]);
      case 'float-scalar':
        return floatTensor(new Float32Array([t]), []);
      case 'float-batch':
        return floatTensor(new Float32Array(B).fill(t), [B]);
    }
  };

  beforeAll(async () => {
    await writeFixtureModel(dir(), options);
    for (const c of ['text_encoder', 'unet', 'vae_decoder'])
      sessions[c] = await ort.InferenceSession.create(path.join(dir(), c, 'model.onnx'));
  });
  afterAll(async () => {
    for (const s of Object.values(sessions)) await s.release();
  });

  it('declares the variant’s dtypes and shapes', () => {
    const ids = meta(sessions.text_encoder, 'input_ids', 'input');
    expect([ids.type, ids.shape]).toEqual([options.idsType ?? 'int32', [batchDim, 77]]);
    expect(meta(sessions.text_encoder, 'last_hidden_state', 'output')).toMatchObject({
      type: floatType,
      shape: [batchDim, 77, D],
    });
    expect(meta(sessions.text_encoder, 'pooler_output', 'output')).toMatchObject({
      type: floatType,
      shape: [batchDim, D],
    });
    expect(meta(sessions.unet, 'sample', 'input')).toMatchObject({
      type: floatType,
      shape: [batchDim, 4, 'height', 'width'],
    });
    expect(meta(sessions.unet, 'encoder_hidden_states', 'input')).toMatchObject({
      type: floatType,
      shape: [batchDim, 77, D],
    });
    const timestep = meta(sessions.unet, 'timestep', 'input');
    const expected = {
      'float-batch': [floatType, [batchDim]],
      'float-scalar': [floatType, []],
      'int64-batch': ['int64', [batchDim]],
    }[options.timestep ?? 'float-batch'];
    expect([timestep.type, timestep.shape]).toEqual(expected);
    expect(meta(sessions.unet, 'out_sample', 'output')).toMatchObject({
      type: floatType,
      shape: [batchDim, 4, 'height', 'width'],
    });
    expect(meta(sessions.vae_decoder, 'latent_sample', 'input')).toMatchObject({
      type: floatType,
      shape: [batchDim, 4, 'height', 'width'],
    });
    expect(meta(sessions.vae_decoder, 'sample', 'output')).toMatchObject({ type: floatType });
  });

  it('runs text encoder → U-Net → VAE decoder with finite outputs of the right shapes', async () => {
    const ids = Array.from({ length: B * 77 }, (_, i) => {
      const pos = i % 77;
      return pos === 0 ? 1124 : pos <= 3 + Math.floor(i / 77) ? 300 + pos * 7 + Math.floor(i / 77) : 1125;
    });
    const idsTensor =
      (options.idsType ?? 'int32') === 'int64'
        ? new ort.Tensor(
            'int64',
            BigInt64Array.from(ids, (v) => BigInt(v)),
            [B, 77],
          )
        : new ort.Tensor('int32', Int32Array.from(ids), [B, 77]);
    const text = await sessions.text_encoder.run({ input_ids: idsTensor });
    expect(text.last_hidden_state.dims).toEqual([B, 77, D]);
    expect(text.pooler_output.dims).toEqual([B, D]);
    const hidden = floats(text.last_hidden_state);
    expect(allFinite(hidden)).toBe(true);
    expect(allFinite(floats(text.pooler_output))).toBe(true);

    const sample = floatTensor(testValues(B * 4 * H * H, 3, -2, 2), [B, 4, H, H]);
    const run = async (t: number, context: ort.Tensor): Promise<Float32Array> => {
      const out = await sessions.unet.run({
        sample,
        timestep: timestepTensor(t),
        encoder_hidden_states: context,
      });
      expect(out.out_sample.dims).toEqual([B, 4, H, H]);
      return floats(out.out_sample);
    };
    const eps = await run(500, text.last_hidden_state);
    expect(allFinite(eps)).toBe(true);
    const rms = Math.sqrt(eps.reduce((s, v) => s + v * v, 0) / eps.length);
    expect(rms).toBeGreaterThan(0.01);
    expect(rms).toBeLessThan(10);
    // The time embedding and the cross-attention are really wired in.
    const differs = (a: Float32Array, b: Float32Array): boolean =>
      a.some((v, i) => Math.abs(v - b[i]) > 1e-3);
    expect(differs(await run(20, text.last_hidden_state), eps)).toBe(true);
    expect(differs(await run(500, floatTensor(new Float32Array(B * 77 * D), [B, 77, D])), eps)).toBe(true);

    const latent = floatTensor(
      Float32Array.from(eps, (v) => v / 0.18215),
      [B, 4, H, H],
    );
    const image = await sessions.vae_decoder.run({ latent_sample: latent });
    expect(image.sample.dims).toEqual([B, 3, 8 * H, 8 * H]);
    const pixels = floats(image.sample);
    expect(allFinite(pixels)).toBe(true);
    expect(Math.max(...pixels.map(Math.abs))).toBeLessThan(20);
  });

  it('keeps the weights where the variant says', () => {
    for (const c of ['text_encoder', 'unet', 'vae_decoder']) {
      const files = fs.readdirSync(path.join(dir(), c)).sort();
      const model = fs.statSync(path.join(dir(), c, 'model.onnx')).size;
      if (options.externalData === undefined || options.externalData === 'none') {
        expect(files.filter((f) => f !== 'config.json')).toEqual(['model.onnx']);
        expect(model).toBeGreaterThan(30_000);
      } else {
        expect(files.filter((f) => f !== 'config.json')).toEqual([options.externalData, 'model.onnx'].sort());
        const data = fs.statSync(path.join(dir(), c, options.externalData)).size;
        expect(data).toBeGreaterThan(1.5 * model); // small tensors (norm params, shapes) stay inline, as with onnx's 1 KiB threshold
        expect(model).toBeLessThan(32_000);
      }
    }
  });
});

describe('writeFixtureModel', () => {
  it('is deterministic, and the seed changes the weights', async () => {
    const opts: FixtureOptions = { precision: 'fp16', externalData: 'model.onnx_data' };
    await writeFixtureModel(path.join(tmp, 'same-a'), opts);
    await writeFixtureModel(path.join(tmp, 'same-b'), opts);
    await writeFixtureModel(path.join(tmp, 'other-seed'), { ...opts, seed: 2 });
    const files = listFiles(path.join(tmp, 'same-a'));
    for (const f of files) {
      expect(
        fs.readFileSync(path.join(tmp, 'same-b', f)).equals(fs.readFileSync(path.join(tmp, 'same-a', f))),
      ).toBe(true);
    }
    const data = (d: string): Buffer => fs.readFileSync(path.join(tmp, d, 'unet', 'model.onnx_data'));
    expect(data('other-seed').equals(data('same-a'))).toBe(false);
  });

  it('honours the widths and rejects impossible ones', async () => {
    const out = path.join(tmp, 'wide');
    await writeFixtureModel(out, { hiddenSize: 48, channels: 16, vaeChannels: 8 });
    const unet = await ort.InferenceSession.create(path.join(out, 'unet', 'model.onnx'));
    expect(meta(unet, 'encoder_hidden_states', 'input').shape).toEqual(['batch', 77, 48]);
    await unet.release();
    await expect(writeFixtureModel(path.join(tmp, 'odd'), { channels: 15 })).rejects.toThrow(/even/);
    await expect(writeFixtureModel(path.join(tmp, 'zero'), { batch: 0 })).rejects.toThrow(/positive integer/);
  });

  it('covers every contract variant', () => {
    const seen = (key: keyof FixtureOptions): Set<unknown> =>
      new Set(fixtureVariants.map((v) => v.options[key] ?? 'default'));
    expect(seen('idsType')).toEqual(new Set(['default', 'int64']));
    expect(seen('timestep')).toEqual(new Set(['default', 'float-scalar', 'int64-batch']));
    expect(seen('precision')).toEqual(new Set(['default', 'fp16']));
    expect(seen('batch')).toEqual(new Set(['default', 1]));
    expect(seen('externalData')).toEqual(new Set(['default', 'model.onnx_data', 'weights.pb']));
    expect(new Set(fixtureVariants.map((v) => v.name)).size).toBe(fixtureVariants.length);
  });
});
