import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixtureVariants, StableDiffusionPipeline, writeFixtureModel } from '../../src';
import { compareRgb, decodeRgb } from '../helpers/images';

// The same SD-shaped fixture weights exported the ways real exports differ
// (int32/int64 ids, float [B] / float scalar / int64 timestep, fp32/fp16,
// dynamic/fixed batch, external weights). Each must load and generate, and
// the fp32 ones must make the picture the plain diffusers-style export makes.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-variants-'));
const request = {
  prompt: 'a giraffe in a field',
  negative_prompt: 'fog',
  steps: 4,
  width: 64,
  height: 64,
  seed: 11,
  scheduler: 'ddim' as const,
};
let reference: Buffer;

beforeAll(async () => {
  const dir = path.join(tmp, 'reference');
  await writeFixtureModel(dir);
  const pipeline = await StableDiffusionPipeline.load(dir);
  reference = (await decodeRgb((await pipeline.generate(request)).images[0])).data;
  await pipeline.close();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.each(fixtureVariants.map((v) => [v.name, v] as const))('%s', (name, variant) => {
  it('loads, reads its contract from the sessions and generates the reference picture', async () => {
    const dir = path.join(tmp, name);
    await writeFixtureModel(dir, variant.options);
    const pipeline = await StableDiffusionPipeline.load(dir);
    try {
      const contract = pipeline.model.contract;
      expect(contract.textEncoder.idsType).toBe(variant.options.idsType ?? 'int32');
      expect(contract.unet.precision).toBe(variant.options.precision === 'fp16' ? 'float16' : 'float32');
      expect(contract.unet.timestepType).toBe(variant.options.timestep === 'int64-batch' ? 'int64' : 'float');
      expect(contract.unet.timestepRank).toBe(variant.options.timestep === 'float-scalar' ? 0 : 1);
      expect(contract.unet.maxBatch).toBe(
        typeof variant.options.batch === 'number' ? variant.options.batch : Infinity,
      );

      const unetRun = jest.spyOn(pipeline.model.unet, 'run');
      const result = await pipeline.generate(request);
      // Guidance doubles the batch: one call per step, or two where the export pins batch 1.
      expect(unetRun).toHaveBeenCalledTimes(request.steps * (contract.unet.maxBatch === 1 ? 2 : 1));
      unetRun.mockRestore();

      const image = await decodeRgb(result.images[0]);
      expect([image.width, image.height]).toEqual([64, 64]);
      const diff = compareRgb(image.data, reference, variant.options.precision === 'fp16' ? 8 : 1);
      expect(diff.fractionOver).toBeLessThan(0.02);
    } finally {
      await pipeline.close();
    }
  });
});
