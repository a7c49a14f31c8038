import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { ensureDemoModel, loadPipeline, schedulerNames, type Pipeline } from '../../../src';

// The out-of-the-box picture (README quick start: 20 steps, the model's default scheduler, or any
// other) must look intentional: smooth, not grainy or blocky, and visibly different per prompt.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-demo-look-'));
let pipeline: Pipeline;

beforeAll(async () => {
  pipeline = await loadPipeline(await ensureDemoModel(tmp));
}, 120_000);

afterAll(async () => {
  await pipeline?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Mean |pixel − its blurred neighbourhood| over all channels (0–255): grain and block edges. */
async function grain(png: Buffer): Promise<number> {
  const sharpData = await sharp(png).raw().toBuffer();
  const blurred = await sharp(png).blur(8).raw().toBuffer();
  let sum = 0;
  for (let i = 0; i < sharpData.length; i++) sum += Math.abs(sharpData[i] - blurred[i]);
  return sum / sharpData.length;
}

/** Mean colour of an image (R, G, B, 0–255). */
async function meanColour(png: Buffer): Promise<number[]> {
  const { channels } = await sharp(png).stats();
  return channels.slice(0, 3).map((c) => c.mean);
}

it.each(schedulerNames)('%s at the quick-start settings gives a smooth picture', async (scheduler) => {
  const steps = scheduler === 'lcm' ? 4 : 20;
  const { images } = await pipeline.generate({
    prompt: 'a giraffe eating a building',
    scheduler,
    steps,
    seed: 7,
    width: 256,
    height: 256,
  });
  // A smooth picture measures 0.2–1 here (the seed's soft shading); the grainy ones measured 4–15.
  expect(await grain(images[0])).toBeLessThan(1.5);
});

it('the default scheduler’s pictures differ visibly from prompt to prompt', async () => {
  const colours: number[][] = [];
  for (const prompt of ['a giraffe eating a building', 'a red fox in the snow', 'a lighthouse at night']) {
    const { images } = await pipeline.generate({ prompt, seed: 7, width: 256, height: 256 });
    expect(await grain(images[0])).toBeLessThan(1.5);
    colours.push(await meanColour(images[0]));
  }
  for (let i = 0; i < colours.length; i++) {
    for (let j = i + 1; j < colours.length; j++) {
      const distance = Math.hypot(...colours[i].map((c, k) => c - colours[j][k]));
      expect(distance).toBeGreaterThan(10);
    }
  }
});
