import { loadPipeline, type Pipeline } from '../../../src/pipeline';
import {
  compareWithReference,
  e2e2Cases,
  e2e2EditInputs,
  e2e2ModelDir,
  e2e2Request,
} from '../../helpers/golden-cases';
import { describeWithShared } from '../../helpers/shared';

// Reference images rendered by diffusers' OnnxStableDiffusionPipeline,
// OnnxStableDiffusionImg2ImgPipeline and OnnxStableDiffusionInpaintPipeline on
// tiny exports (../shared/goldens/README.md, section e2e2): max 2/255 on ≥ 98 % of values.
describeWithShared(
  ['goldens', 'e2e2', 'cases.json'],
  'parity with diffusers ONNX img2img, inpaint, v-prediction',
  () => {
    const cases = ['vpred', 'img2img', 'inpaint'].flatMap((kind) => e2e2Cases(kind));
    const pipelines = new Map<string, Pipeline>();

    afterAll(async () => {
      await Promise.all([...pipelines.values()].map((p) => p.close()));
    });

    it('covers every img2img, inpaint and v-prediction case', () => {
      const all = e2e2Cases('vpred').length + e2e2Cases('img2img').length + e2e2Cases('inpaint').length;
      expect(all).toBe(5);
      expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(['vpred', 'img2img', 'inpaint']));
    });

    it.each(cases.map((c) => [c.name, c] as const))('%s matches the reference image', async (_name, c) => {
      let pipeline = pipelines.get(c.model);
      if (!pipeline) {
        pipeline = await loadPipeline(e2e2ModelDir(c));
        pipelines.set(c.model, pipeline);
      }
      const timesteps: number[] = [];
      const result = await pipeline.generate(
        { ...e2e2Request(c), ...e2e2EditInputs(c) },
        { onStep: (p) => timesteps.push(...p.unetTimesteps) },
      );
      expect(timesteps).toEqual(c.unet_timesteps.map((t) => Math.fround(t)));
      expect(result.timings.unet_calls).toBe(c.unet_timesteps.length);
      const diff = await compareWithReference(result.images[0], c);
      expect(diff.size).toEqual(diff.refSize);
      // Printed for the report: how close each case lands.
      process.stdout.write(
        `${c.name}: max diff ${diff.maxDiff}, ${(diff.fractionOver * 100).toFixed(3)} % over 2/255\n`,
      );
      expect(diff.fractionOver).toBeLessThanOrEqual(0.02);
    });
  },
);
