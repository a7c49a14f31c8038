import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeDemoModel } from '../../../src/pipeline/demo';
import { makeTempDir, removeTempDir, sd15AlphaBar, sd15Sigma, testValues } from './demo-test-helpers';

// The exact demo U-Net claims ε = (sample − √ᾱ·T)/√(1 − ᾱ) for a prompt-dependent
// target T; the built-in one is unsure of the coarse part of that by 1 − 1/(1 + (σ/2)²). Everything here is measured on the graph: T is read back from the
// U-Net at sample = 0, ᾱ comes from the SD 1.5 formula written in the helpers.

let tmp: string;
let textEncoder: ort.InferenceSession;
let unet: ort.InferenceSession;
let builtInUnet: ort.InferenceSession;
let vae: ort.InferenceSession;
let vocab: Record<string, number>;

const H = 12; // latent height and width: not the 8×8 grid the target is drawn on, so the resize runs
const W = 16;
const PLANE = 4 * H * W;

beforeAll(async () => {
  tmp = makeTempDir('demo-unet');
  await writeDemoModel(tmp, { exact: true });
  await writeDemoModel(path.join(tmp, 'built-in'));
  builtInUnet = await ort.InferenceSession.create(path.join(tmp, 'built-in', 'unet', 'model.onnx'));
  vocab = JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer', 'vocab.json'), 'utf8')) as Record<
    string,
    number
  >;
  textEncoder = await ort.InferenceSession.create(path.join(tmp, 'text_encoder', 'model.onnx'));
  unet = await ort.InferenceSession.create(path.join(tmp, 'unet', 'model.onnx'));
  vae = await ort.InferenceSession.create(path.join(tmp, 'vae_decoder', 'model.onnx'));
});
afterAll(async () => {
  await Promise.all([textEncoder?.release(), unet?.release(), builtInUnet?.release(), vae?.release()]);
  removeTempDir(tmp);
});

/** Ids of a prompt made of whole-word tokens, CLIP style: start, words, end, padded with end-of-text. */
function promptIds(prompt: string): Int32Array {
  const words = prompt.split(' ').filter((w) => w.length > 0);
  const ids = [vocab['<|startoftext|>'], ...words.map((w) => vocab[`${w}</w>`]), vocab['<|endoftext|>']];
  if (ids.some((id) => id === undefined)) throw new Error(`"${prompt}" has a word that is not one token`);
  while (ids.length < 77) ids.push(vocab['<|endoftext|>']);
  return Int32Array.from(ids);
}

/** last_hidden_state for a batch of prompts. */
async function encode(...prompts: string[]): Promise<ort.Tensor> {
  const ids = new Int32Array(77 * prompts.length);
  prompts.forEach((p, i) => ids.set(promptIds(p), i * 77));
  const out = await textEncoder.run({ input_ids: new ort.Tensor('int32', ids, [prompts.length, 77]) });
  return out.last_hidden_state;
}

async function epsilon(
  sample: Float32Array,
  timesteps: number[],
  hidden: ort.Tensor,
  session = unet,
): Promise<Float32Array> {
  const batch = sample.length / PLANE;
  const out = await session.run({
    sample: new ort.Tensor('float32', sample, [batch, 4, H, W]),
    timestep: new ort.Tensor('float32', Float32Array.from(timesteps), [timesteps.length]),
    encoder_hidden_states: hidden,
  });
  expect(out.out_sample.dims).toEqual([batch, 4, H, W]);
  return out.out_sample.data as Float32Array;
}

/** T(c) read from the model: at sample = 0, ε = −√ᾱ·T/√(1 − ᾱ). */
async function target(prompt: string, t = 500): Promise<Float64Array> {
  const eps = await epsilon(new Float32Array(PLANE), [t], await encode(prompt));
  const a = sd15AlphaBar(t);
  return Float64Array.from(eps, (e) => (-e * Math.sqrt(1 - a)) / Math.sqrt(a));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const PROMPT = 'a red giraffe under a blue sky';

describe('the demo text encoder', () => {
  it('pools at the end-of-text token', async () => {
    const ids = promptIds('a cat');
    const out = await textEncoder.run({ input_ids: new ort.Tensor('int32', ids, [1, 77]) });
    const hidden = out.last_hidden_state.data as Float32Array;
    expect(out.pooler_output.dims).toEqual([1, 32]);
    expect(Array.from(out.pooler_output.data as Float32Array)).toEqual(
      Array.from(hidden.subarray(3 * 32, 4 * 32)),
    );
  });
});

describe('the demo U-Net', () => {
  it('gives T = 0 (a flat grey) for the empty prompt, at any timestep', async () => {
    for (const t of [1, 250.5, 999]) expect(maxAbsDiff(await target('', t), new Float64Array(PLANE))).toBe(0);
  });

  it('gives a target that does not depend on the timestep, and differs between prompts', async () => {
    const a = await target(PROMPT, 500);
    expect(maxAbsDiff(await target(PROMPT, 37.25), a)).toBeLessThan(1e-4);
    expect(maxAbsDiff(await target(PROMPT, 999), a)).toBeLessThan(1e-4);
    const rms = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(rms).toBeGreaterThan(0.05);
    const b = await target('a green forest');
    expect(maxAbsDiff(a, b)).toBeGreaterThan(rms);
    const reordered = await target('a blue giraffe under a red sky');
    expect(maxAbsDiff(a, reordered)).toBeGreaterThan(0.1 * rms);
  });

  it.each([0, 1, 20, 261, 999, 0.5, 37.25, 640.8, 998.999])(
    'predicts ε exactly at timestep %p',
    async (t) => {
      const T = await target(PROMPT);
      const sample = testValues(PLANE, 1 + Math.round(t * 1000), -3, 3);
      const eps = await epsilon(sample, [t], await encode(PROMPT));
      const a = sd15AlphaBar(t);
      let worst = 0;
      for (let i = 0; i < PLANE; i++) {
        const expected = (sample[i] - Math.sqrt(a) * T[i]) / Math.sqrt(1 - a);
        worst = Math.max(worst, Math.abs(eps[i] - expected) / (1 + Math.abs(expected)));
      }
      expect(worst).toBeLessThan(2e-5);
    },
  );

  /** Mean over the k×k window around each latent pixel, per channel, the window cut at the edges. */
  function windowMean(data: Float32Array, k: number): Float64Array {
    const out = new Float64Array(data.length);
    const r = (k - 1) / 2;
    for (let c = 0; c < 4; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          let sum = 0;
          let n = 0;
          for (let yy = Math.max(0, y - r); yy <= Math.min(H - 1, y + r); yy++)
            for (let xx = Math.max(0, x - r); xx <= Math.min(W - 1, x + r); xx++) {
              sum += data[c * H * W + yy * W + xx];
              n++;
            }
          out[c * H * W + y * W + x] = sum / n;
        }
    return out;
  }

  it.each([1, 261, 640.8, 999])(
    'built-in: unsure only of the coarse noise (ε − (1 − c)·mean₁₇ₓ₁₇(ε), c = 1/(1 + (σ/2)²)) at timestep %p, so x₀ starts noisy and sharpens without grain',
    async (t) => {
      const hidden = await encode(PROMPT);
      const sample = testValues(PLANE, 7 + Math.round(t), -3, 3);
      const exact = await epsilon(sample, [t], hidden);
      const builtIn = await epsilon(sample, [t], hidden, builtInUnet);
      const confidence = 1 / (1 + (sd15Sigma(t) / 2) ** 2);
      const coarse = windowMean(exact, 17);
      let worst = 0;
      for (let i = 0; i < PLANE; i++) {
        const expected = exact[i] - (1 - confidence) * coarse[i];
        worst = Math.max(worst, Math.abs(builtIn[i] - expected) / (1 + Math.abs(expected)));
      }
      expect(worst).toBeLessThan(2e-5);
    },
  );

  it('interpolates σ linearly between integer timesteps', () => {
    // The helper's σ(t) is what the model must match; pin the two things that make it distinctive.
    expect(sd15Sigma(0)).toBeCloseTo(0.0292, 4);
    expect(sd15Sigma(999)).toBeCloseTo(14.6146, 4);
    expect(sd15Sigma(10.25)).toBeCloseTo(0.75 * sd15Sigma(10) + 0.25 * sd15Sigma(11), 12);
  });

  it('handles a batch with one timestep each and broadcasts a single timestep (diffusers passes [t])', async () => {
    const hidden = await encode('', PROMPT);
    const sample = testValues(2 * PLANE, 99, -2, 2);
    const perItem = await epsilon(sample, [300, 700.5], hidden);
    const shared = await epsilon(sample, [300], hidden);
    for (const [i, t] of [300, 700.5].entries()) {
      const alone = await epsilon(
        sample.slice(i * PLANE, (i + 1) * PLANE),
        [t],
        await encode(i === 0 ? '' : PROMPT),
      );
      expect(maxAbsDiff(perItem.subarray(i * PLANE, (i + 1) * PLANE), alone)).toBeLessThan(1e-5);
    }
    expect(maxAbsDiff(shared.subarray(0, PLANE), perItem.subarray(0, PLANE))).toBeLessThan(1e-5);
  });

  it('makes classifier-free guidance exact for w·T(c)', async () => {
    const w = 7.5;
    const t = 400;
    const T = await target(PROMPT);
    const sample = testValues(PLANE, 5, -2, 2);
    const both = new Float32Array(2 * PLANE);
    both.set(sample, 0);
    both.set(sample, PLANE);
    const eps = await epsilon(both, [t], await encode('', PROMPT));
    const a = sd15AlphaBar(t);
    let worst = 0;
    for (let i = 0; i < PLANE; i++) {
      const guided = eps[i] + w * (eps[PLANE + i] - eps[i]);
      const expected = (sample[i] - Math.sqrt(a) * w * T[i]) / Math.sqrt(1 - a);
      worst = Math.max(worst, Math.abs(guided - expected) / (1 + Math.abs(expected)));
    }
    expect(worst).toBeLessThan(1e-4);
  });
});

describe('the demo VAE decoder', () => {
  async function decode(latents: Float64Array): Promise<Float32Array> {
    const scaled = Float32Array.from(latents, (v) => v / 0.18215);
    const out = await vae.run({ latent_sample: new ort.Tensor('float32', scaled, [1, 4, H, W]) });
    expect(out.sample.dims).toEqual([1, 3, 8 * H, 8 * W]);
    return out.sample.data as Float32Array;
  }

  function channelStats(image: Float32Array): { mean: number; std: number }[] {
    const n = image.length / 3;
    return [0, 1, 2].map((c) => {
      const values = image.subarray(c * n, (c + 1) * n);
      const mean = values.reduce((s, v) => s + v, 0) / n;
      return { mean, std: Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / n) };
    });
  }

  it('decodes the empty prompt to flat grey', async () => {
    const image = await decode(new Float64Array(PLANE));
    expect(Math.max(...image.map(Math.abs))).toBe(0);
  });

  // Faint but visible at w = 1, vivid at 7.5, mostly unclipped at 12.
  it.each([
    [1, 0.03],
    [4, 0.12],
    [7.5, 0.2],
    [12, 0.3],
  ])('paints a colourful picture in (−1, 1) at guidance %p', async (w, minStd) => {
    for (const prompt of [
      PROMPT,
      'a photo of an astronaut riding a horse on mars',
      'sunset over the ocean',
    ]) {
      const T = await target(prompt);
      const image = await decode(T.map((v) => w * v));
      const stds = channelStats(image).map((s) => s.std);
      const saturated = image.reduce((n, v) => n + (Math.abs(v) > 0.95 ? 1 : 0), 0) / image.length;
      expect({ prompt, minStd: Math.min(...stds) > minStd, saturated: saturated < 0.25 }).toEqual({
        prompt,
        minStd: true,
        saturated: true,
      });
      expect(Math.max(...image.map(Math.abs))).toBeLessThan(1);
    }
  });
});
