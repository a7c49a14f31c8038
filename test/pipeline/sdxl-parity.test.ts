import { StableDiffusionPipeline } from '../../src/pipeline';
import { compareWithReference, e2e2Cases, e2e2ModelDir, e2e2Request } from '../helpers/golden-cases';
import { describeWithShared } from '../helpers/shared';

// Reference images rendered by diffusers' StableDiffusionXLPipeline on a tiny
// SDXL model in optimum's ONNX layout (two text encoders, text_embeds and
// time_ids, VAE factor 0.13025, zero unconditional states).
describeWithShared(
  ['goldens', 'e2e2', 'cases.json'],
  'parity with diffusers StableDiffusionXLPipeline',
  () => {
    const cases = e2e2Cases('sdxl');
    let pipeline: StableDiffusionPipeline;

    beforeAll(async () => {
      pipeline = await StableDiffusionPipeline.load(e2e2ModelDir(cases[0]));
    });
    afterAll(async () => {
      await pipeline?.close();
    });

    it('has SDXL cases to check', () => {
      expect(cases.length).toBeGreaterThan(0);
    });

    it.each(cases.map((c) => [c.name, c] as const))('%s matches the reference image', async (_name, c) => {
      const timesteps: number[] = [];
      // The case's fields as the reference ran them (checked at run time by the pipeline).
      const request = e2e2Request(c);
      const result = await pipeline.generate(request, { onStep: (p) => timesteps.push(...p.unetTimesteps) });
      expect(timesteps).toEqual(c.unet_timesteps.map((t) => Math.fround(t)));
      const diff = await compareWithReference(result.images[0], c);
      expect(diff.size).toEqual(diff.refSize);
      console.log(`${c.name}: max ${diff.maxDiff}/255, ${(diff.fractionOver * 100).toFixed(3)} % over 2/255`);
      expect(diff.fractionOver).toBeLessThanOrEqual(0.02);
    });
  },
);
