import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  createScheduler,
  decodeCheckpoint,
  encodeCheckpoint,
  type DenoiseCheckpoint,
  ensureDemoModel,
  parseA1111Parameters,
  readPngTextChunks,
  sha256Of,
  StableDiffusionPipeline,
  writeFixtureModel,
  type SchedulerName,
} from '../../../src/pipeline';
import { decodeInputImage } from '../../../src/pipeline/image/decode-input-image';
import { encodeImageLatents, pixelsToTensor } from '../../../src/pipeline/stages/encode-image';
import { strengthSchedule } from '../../../src/pipeline/stages/prepare-image-latents';
import { decodeRgb } from '../../helpers/images';

const SIZE = 128;

/** A smooth colour gradient, away from black and white (the demo VAE clips near ±1). */
async function gradientPng(): Promise<Buffer> {
  const raw = Buffer.alloc(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = 3 * (y * SIZE + x);
      raw[i] = 50 + Math.round((150 * x) / SIZE);
      raw[i + 1] = 50 + Math.round((150 * y) / SIZE);
      raw[i + 2] = 200 - Math.round((75 * (x + y)) / SIZE);
    }
  }
  return sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 3 } })
    .png()
    .toBuffer();
}

/** White (repaint) in the top-left 48×48 square, black (keep) elsewhere. */
async function cornerMask(): Promise<Buffer> {
  const white = await sharp({ create: { width: 48, height: 48, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  return sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: '#000' } })
    .composite([{ input: white, left: 0, top: 0 }])
    .png()
    .toBuffer();
}

function correlation(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

const schedulers: Array<[SchedulerName, boolean]> = [
  ['euler', false],
  ['euler', true],
  ['euler_a', false],
  ['euler_a', true],
  ['ddim', false],
  ['pndm', false],
  ['dpmpp_2m', false],
  ['dpmpp_2m', true],
  ['lcm', false],
];
const cases = schedulers.map(([s, karras]) => [`${s}${karras ? ' (karras)' : ''}`, s, karras] as const);

describe('image-to-image and 4-channel inpainting on the demo model', () => {
  let tmp: string;
  let pipeline: StableDiffusionPipeline;
  let image: Buffer;
  let mask: Buffer;
  let clean: Float32Array;
  const base = { prompt: 'a giraffe at sunset', seed: 7, width: SIZE, height: SIZE, steps: 8 };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-edit-demo-'));
    pipeline = await StableDiffusionPipeline.load(await ensureDemoModel(tmp));
    image = await gradientPng();
    mask = await cornerMask();
    const pixels = await decodeInputImage(image, {
      width: SIZE,
      height: SIZE,
      resizeMode: 'crop',
      maxPixels: 1e6,
      field: 'image',
    });
    clean = await encodeImageLatents(pipeline.model, pixelsToTensor(pixels, 'img2img'), SIZE, SIZE);
  });
  afterAll(async () => {
    await pipeline?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it.each(cases)(
    '%s: img2img starts from the noised image and runs the strength’s steps',
    async (_n, s, karras) => {
      const firstLatents: Float32Array[] = [];
      const timesteps: number[] = [];
      const onStep = (p: { step: number; latents: Float32Array; timestep: number }): void => {
        if (p.step === 1) firstLatents.push(p.latents.slice());
        timesteps.push(p.timestep);
      };
      const result = await pipeline.generate(
        { ...base, scheduler: s, karras, image, strength: 0.5 },
        { onStep },
      );
      await pipeline.generate({ ...base, scheduler: s, karras }, { onStep });

      const scheduler = createScheduler(s, pipeline.info.schedulerConfig, karras ? { karras } : {});
      scheduler.setTimesteps(base.steps);
      const { firstStep } = strengthSchedule(scheduler.timesteps, base.steps, 0.5, 1);
      const expected = Array.from(scheduler.timesteps.subarray(firstStep));
      expect(result.timings.unet_calls).toBe(expected.length);
      expect(timesteps.slice(0, expected.length)).toEqual(expected);
      expect(result.request).toMatchObject({ strength: 0.5, image_sha256: sha256Of(image) });
      // Previews (made from each step's latents) start from the noised input, not from noise.
      const [img2img, text2img] = firstLatents;
      // LCM jumps to its x₀ estimate (the demo's prompt picture) and re-noises it: less of the input survives a step.
      expect(correlation(img2img, clean)).toBeGreaterThan(s === 'lcm' ? 0.1 : 0.3);
      expect(Math.abs(correlation(text2img, clean))).toBeLessThan(0.15);
      const out = await decodeRgb(result.images[0]);
      expect([out.width, out.height]).toEqual([SIZE, SIZE]);
    },
  );

  it.each(cases)('%s: 4-channel inpainting keeps the pixels far from the mask', async (_n, s, karras) => {
    const result = await pipeline.generate({
      ...base,
      scheduler: s,
      karras,
      image,
      mask_image: mask,
      mask_blur: 2,
    });
    expect(result.request).toMatchObject({ strength: 1, mask_blur: 2, mask_image_sha256: sha256Of(mask) });
    const ours = (await decodeRgb(result.images[0])).data;
    const original = (await decodeRgb(image)).data;
    let farDiff = 0;
    let farCount = 0;
    let farMax = 0;
    let holeDiff = 0;
    let holeCount = 0;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const far = x >= 48 + 24 || y >= 48 + 24;
        const hole = x < 40 && y < 40;
        for (let c = 0; c < 3; c++) {
          const i = 3 * (y * SIZE + x) + c;
          const d = Math.abs(ours[i] - original[i]);
          if (far) {
            farDiff += d;
            farCount++;
            farMax = Math.max(farMax, d);
          } else if (hole) {
            holeDiff += d;
            holeCount++;
          }
        }
      }
    }
    // The kept region comes back through the demo VAE (a blur to the 8×8 latent cells): close, not exact.
    expect(farDiff / farCount).toBeLessThan(3);
    expect(farMax).toBeLessThan(16);
    // The hole was repainted.
    expect(holeDiff / holeCount).toBeGreaterThan(8);
  });

  it('writes strength, mask blur, resize mode and the inputs’ sha256 into the PNG parameters', async () => {
    const result = await pipeline.generate({
      ...base,
      image,
      mask_image: mask,
      strength: 0.75,
      mask_blur: 4,
      resize_mode: 'fit',
    });
    const text = readPngTextChunks(result.images[0]).parameters;
    expect(text).toContain('Denoising strength: 0.75');
    expect(text).toContain('Mask blur: 4');
    expect(text).toContain('Resize mode: Resize and fill');
    expect(parseA1111Parameters(text)).toMatchObject({
      strength: 0.75,
      mask_blur: 4,
      resize_mode: 'fit',
      image_sha256: sha256Of(image),
      mask_image_sha256: sha256Of(mask),
    });
    // The resolved request, passed back with the same bytes, makes the same image.
    const again = await pipeline.generate({ ...result.request, image, mask_image: mask });
    expect(again.images[0].equals(result.images[0])).toBe(true);
    expect(result.timings.vae_encoder_ms).toBeGreaterThan(0);
  });

  it.each([
    ['img2img, euler_a', { scheduler: 'euler_a', strength: 0.6 }],
    ['4-channel inpainting, dpmpp_2m', { scheduler: 'dpmpp_2m', strength: 0.9, masked: true, mask_blur: 3 }],
    ['4-channel inpainting, pndm', { scheduler: 'pndm', masked: true }],
  ] as const)('%s resumes from a checkpoint with the same bytes', async (_n, c) => {
    const { masked, ...fields } = c as { masked?: boolean } & Record<string, unknown>;
    const request = { ...base, ...fields, image, ...(masked ? { mask_image: mask } : {}) };
    const saved: DenoiseCheckpoint[] = [];
    const whole = await pipeline.generate(request, {
      checkpoint: { intervalMs: 0, save: (cp) => saved.push(cp) },
    });
    const steps = whole.timings.unet_calls;
    expect(saved.map((cp) => cp.step)).toEqual(Array.from({ length: steps - 1 }, (_, i) => i + 1));
    const cp = saved[Math.floor(saved.length / 2)];
    const resumedSteps: number[] = [];
    const resumed = await pipeline.generate(request, {
      resumeFrom: decodeCheckpoint(encodeCheckpoint(cp)),
      onStep: (p) => resumedSteps.push(p.step),
    });
    expect(resumed.resumed_from_step).toBe(cp.step);
    expect(resumedSteps[0]).toBe(cp.step + 1);
    expect(resumedSteps.at(-1)).toBe(steps);
    expect(resumed.images[0].equals(whole.images[0])).toBe(true);
  });

  it('previews of the demo-inpaint variant keep the masked image outside the hole', async () => {
    const dir = await ensureDemoModel(tmp, { variant: 'inpaint' });
    expect(path.basename(dir)).toBe('demo-inpaint');
    const inpaint = await StableDiffusionPipeline.load(dir);
    try {
      expect(inpaint.model.contract.unet.sampleChannels).toBe(9);
      const result = await inpaint.generate({ ...base, steps: 20, image, mask_image: mask });
      const ours = (await decodeRgb(result.images[0])).data;
      const original = (await decodeRgb(image)).data;
      let far = 0;
      let n = 0;
      for (let y = 72; y < SIZE; y++)
        for (let x = 72; x < SIZE; x++)
          for (let c = 0; c < 3; c++, n++)
            far += Math.abs(ours[3 * (y * SIZE + x) + c] - original[3 * (y * SIZE + x) + c]);
      expect(far / n).toBeLessThan(20);
      // A mask blur reaches the 9-channel U-Net too (diffusers has none; AUTOMATIC1111 blurs first).
      const blurred = await inpaint.generate({ ...base, steps: 20, image, mask_image: mask, mask_blur: 8 });
      expect(blurred.images[0].equals(result.images[0])).toBe(false);
    } finally {
      await inpaint.close();
    }
  });
});

describe('vae_encoder layouts', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-edit-layouts-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('takes the mean of optimum’s latent_parameters, as the convert script’s sample', async () => {
    const image = await gradientPng();
    const outputs: Buffer[] = [];
    for (const layout of ['latent_sample', 'latent_parameters'] as const) {
      const dir = path.join(tmp, layout);
      await writeFixtureModel(dir, { vaeEncoder: layout, seed: 3 });
      const pipeline = await StableDiffusionPipeline.load(dir);
      try {
        expect(pipeline.model.contract.vaeEncoder).toMatchObject({
          output: layout,
          layout: layout === 'latent_sample' ? 'sample' : 'parameters',
        });
        const result = await pipeline.generate({
          prompt: 'x',
          image,
          width: 64,
          height: 64,
          steps: 4,
          scheduler: 'euler',
          seed: 5,
          strength: 0.6,
        });
        // Pixels, not file bytes: the PNG parameters name the model (its directory).
        outputs.push((await decodeRgb(result.images[0])).data);
      } finally {
        await pipeline.close();
      }
    }
    expect(outputs[1].equals(outputs[0])).toBe(true);
  });

  it('inpaints several images with a fixed-batch-1 9-channel U-Net (guidance as two calls per step)', async () => {
    const dir = path.join(tmp, 'batch-1-inpaint');
    await writeFixtureModel(dir, { inpainting: true, vaeEncoder: 'latent_parameters', batch: 1 });
    const pipeline = await StableDiffusionPipeline.load(dir);
    try {
      const image = await gradientPng();
      const mask = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
        .png()
        .toBuffer();
      const two = await pipeline.generate({
        prompt: 'x',
        image,
        mask_image: mask,
        width: 64,
        height: 64,
        steps: 3,
        scheduler: 'euler_a',
        seed: 9,
        num_images: 2,
      });
      expect(two.images).toHaveLength(2);
      expect(two.images[0].equals(two.images[1])).toBe(false);
      const one = await pipeline.generate({ ...two.request, image, mask_image: mask, num_images: 1 });
      expect(one.images).toHaveLength(1);
    } finally {
      await pipeline.close();
    }
  });

  it.each(['euler', 'ddim', 'dpmpp_2m', 'pndm'] as const)(
    'runs img2img and inpainting on a v-prediction model with %s',
    async (scheduler) => {
      const dir = path.join(tmp, 'vpred');
      if (!fs.existsSync(dir)) {
        await writeFixtureModel(dir, { vaeEncoder: 'latent_sample' });
        const file = path.join(dir, 'scheduler', 'scheduler_config.json');
        const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
        fs.writeFileSync(file, JSON.stringify({ ...config, prediction_type: 'v_prediction' }));
      }
      const pipeline = await StableDiffusionPipeline.load(dir);
      try {
        expect(pipeline.info.schedulerConfig.prediction_type).toBe('v_prediction');
        const image = await gradientPng();
        const mask = await cornerMask();
        const request = { prompt: 'x', image, width: 64, height: 64, steps: 5, scheduler, seed: 2 };
        const i2i = await pipeline.generate({ ...request, strength: 0.7 });
        const inpaint = await pipeline.generate({ ...request, mask_image: mask });
        for (const r of [i2i, inpaint]) expect((await decodeRgb(r.images[0])).data.length).toBe(64 * 64 * 3);
        expect(i2i.images[0].equals(inpaint.images[0])).toBe(false);
      } finally {
        await pipeline.close();
      }
    },
  );
});
