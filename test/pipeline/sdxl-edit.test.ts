import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { StableDiffusionPipeline, writeFixtureModel } from '../../src/pipeline';
import { channelStd, decodeRgb } from '../helpers/images';

// SDXL image-to-image and inpainting through the edit machinery, on SDXL-shaped
// fixtures with an optimum-layout vae_encoder (and a 9-channel U-Net).
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-sdxl-edit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SIZE = 64;

async function solid(color: string): Promise<Buffer> {
  return sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: color } })
    .png()
    .toBuffer();
}

it('runs SDXL image-to-image: the input image, the strength schedule and the SDXL conditioning together', async () => {
  const dir = path.join(tmp, 'sdxl-img2img');
  await writeFixtureModel(dir, { family: 'sdxl', vaeEncoder: 'latent_parameters' });
  const pipeline = await StableDiffusionPipeline.load(dir);
  try {
    const request = { prompt: 'a giraffe', seed: 4, steps: 4, width: SIZE, height: SIZE };
    const timesteps: number[] = [];
    const edited = await pipeline.generate(
      { ...request, image: await solid('#7a5030'), strength: 0.5 },
      { onStep: (p) => timesteps.push(p.timestep) },
    );
    expect(timesteps.length).toBeLessThan(4);
    expect(edited.request).toMatchObject({ strength: 0.5, guidance_scale: 5 });
    const plain = await pipeline.generate(request);
    const [a, b] = await Promise.all([decodeRgb(edited.images[0]), decodeRgb(plain.images[0])]);
    expect(a.data.equals(b.data)).toBe(false);
    expect(Math.max(...channelStd(a.data))).toBeGreaterThan(0);
  } finally {
    await pipeline.close();
  }
});

it('runs SDXL inpainting on a 9-channel SDXL U-Net', async () => {
  const dir = path.join(tmp, 'sdxl-inpaint');
  await writeFixtureModel(dir, { family: 'sdxl', vaeEncoder: 'latent_parameters', inpainting: true });
  const pipeline = await StableDiffusionPipeline.load(dir);
  try {
    const result = await pipeline.generate({
      prompt: 'a giraffe',
      seed: 4,
      steps: 3,
      width: SIZE,
      height: SIZE,
      image: await solid('#7a5030'),
      mask_image: await solid('#ffffff'),
    });
    expect(result.images).toHaveLength(1);
    expect(result.request).toMatchObject({ strength: 1 });
  } finally {
    await pipeline.close();
  }
});
