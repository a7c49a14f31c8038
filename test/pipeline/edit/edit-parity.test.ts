import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadPipeline, type Pipeline } from '../../../src/pipeline';
import { compareRgb, decodeRgb } from '../../helpers/images';
import { describeWithShared, readSharedJson, sharedPath } from '../../helpers/shared';

interface Case {
  name: string;
  kind: 'vpred' | 'img2img' | 'inpaint' | 'sdxl';
  model: string;
  prompt: string;
  negative_prompt: string | null;
  seed: number;
  steps: number;
  guidance_scale: number;
  scheduler: 'pndm' | 'ddim' | 'euler';
  karras: boolean;
  width: number;
  height: number;
  strength?: number;
  image?: string;
  mask_image?: string;
  png: string;
  unet_timesteps: number[];
}

// Reference images rendered by diffusers' OnnxStableDiffusionPipeline,
// OnnxStableDiffusionImg2ImgPipeline and OnnxStableDiffusionInpaintPipeline on
// tiny exports (../shared/goldens/README.md, section e2e2): max 2/255 on ≥ 98 % of values.
describeWithShared(
  ['goldens', 'e2e2', 'cases.json'],
  'parity with diffusers ONNX img2img, inpaint, v-prediction',
  () => {
    const dir = sharedPath('goldens', 'e2e2');
    const cases = readSharedJson<Case[]>('goldens', 'e2e2', 'cases.json').filter((c) => c.kind !== 'sdxl');
    const pipelines = new Map<string, Pipeline>();

    afterAll(async () => {
      await Promise.all([...pipelines.values()].map((p) => p.close()));
    });

    it('covers every img2img, inpaint and v-prediction case', () => {
      expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(['vpred', 'img2img', 'inpaint']));
    });

    it.each(cases.map((c) => [c.name, c] as const))('%s matches the reference image', async (_name, c) => {
      let pipeline = pipelines.get(c.model);
      if (!pipeline) {
        pipeline = await loadPipeline(path.join(dir, c.model));
        pipelines.set(c.model, pipeline);
      }
      const timesteps: number[] = [];
      const result = await pipeline.generate(
        {
          prompt: c.prompt,
          negative_prompt: c.negative_prompt,
          seed: c.seed,
          steps: c.steps,
          guidance_scale: c.guidance_scale,
          scheduler: c.scheduler,
          karras: c.karras,
          width: c.width,
          height: c.height,
          output_format: 'png',
          ...(c.image ? { image: fs.readFileSync(path.join(dir, c.image)) } : {}),
          ...(c.mask_image ? { mask_image: fs.readFileSync(path.join(dir, c.mask_image)) } : {}),
          ...(c.kind === 'img2img' ? { strength: c.strength } : c.kind === 'inpaint' ? { strength: 1 } : {}),
        },
        { onStep: (p) => timesteps.push(...p.unetTimesteps) },
      );
      expect(timesteps).toEqual(c.unet_timesteps.map((t) => Math.fround(t)));
      expect(result.timings.unet_calls).toBe(c.unet_timesteps.length);
      const ours = await decodeRgb(result.images[0]);
      const ref = await decodeRgb(path.join(dir, c.png));
      expect([ours.width, ours.height]).toEqual([ref.width, ref.height]);
      const diff = compareRgb(ours.data, ref.data, 2);
      // Printed for the report: how close each case lands.
      process.stdout.write(
        `${c.name}: max diff ${diff.maxDiff}, ${(diff.fractionOver * 100).toFixed(3)} % over 2/255\n`,
      );
      expect(diff.fractionOver).toBeLessThanOrEqual(0.02);
    });
  },
);
