import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadPipeline, writeFixtureModel, type Pipeline } from '../../src/pipeline';
import { probeWebgpu } from '../../src/pipeline/model';
import { GiraffeError } from '../../src/errors';
import { compareRgb, decodeRgb } from '../helpers/images';
import { hasShared, readSharedJson, sharedPath } from '../helpers/shared';
import { describeOnSoftwareGpu } from '../helpers/software-gpu';

// The webgpu device on SwiftShader (software Vulkan): slow (15–55 s per tiny
// image, most of it compiling shaders on each shape's first run), so CI runs
// one golden case here; `npm run test:webgpu-full` runs them all.
jest.setTimeout(600_000);

interface Case {
  name: string;
  prompt: string;
  negative_prompt: string | null;
  seed: number;
  steps: number;
  guidance_scale: number;
  scheduler: 'pndm' | 'ddim' | 'euler';
  karras: boolean;
  width: number;
  height: number;
  png: string;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-webgpu-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describeOnSoftwareGpu('the webgpu device', () => {
  const haveGoldens = hasShared('goldens', 'e2e', 'cases.json');
  const all = haveGoldens ? readSharedJson<Case[]>('goldens', 'e2e', 'cases.json') : [];
  // GIRAFFE_WEBGPU_FULL=1: every case (the script), else the cheapest (fewest U-Net calls).
  const cases = process.env.GIRAFFE_WEBGPU_FULL ? all : all.filter((c) => c.name === 'ddim_10');

  (haveGoldens ? describe : describe.skip)('parity with diffusers on webgpu', () => {
    let gpu: Pipeline;
    let cpu: Pipeline;
    beforeAll(async () => {
      gpu = await loadPipeline(sharedPath('goldens', 'e2e', 'model'), { device: 'webgpu' });
      cpu = await loadPipeline(sharedPath('goldens', 'e2e', 'model'), { device: 'cpu' });
    });
    afterAll(async () => {
      await gpu?.close();
      await cpu?.close();
    });

    it.each(cases.map((c) => [c.name, c] as const))(
      '%s matches the reference within 1/255 on ≤ 1 % of values, and is not the CPU image',
      async (_name, c) => {
        const request = {
          prompt: c.prompt,
          negative_prompt: c.negative_prompt,
          seed: c.seed,
          steps: c.steps,
          guidance_scale: c.guidance_scale,
          scheduler: c.scheduler,
          karras: c.karras,
          width: c.width,
          height: c.height,
        };
        const [onGpu, onCpu] = await Promise.all([gpu.generate(request), cpu.generate(request)]);
        const ref = await decodeRgb(path.join(sharedPath('goldens', 'e2e'), c.png));
        const ours = await decodeRgb(onGpu.images[0]);
        const diff = compareRgb(ours.data, ref.data, 1);
        expect(diff.fractionOver).toBeLessThanOrEqual(0.01);
        // Proof that the WebGPU provider computed it, not a quiet CPU fallback: the CPU
        // provider's image for the same seed is deterministic, and WebGPU's kernels round
        // differently (measured: 0.18–0.53 % of values off the reference, CPU ≤ 0.07 %).
        const fromCpu = await decodeRgb(onCpu.images[0]);
        expect(compareRgb(ours.data, fromCpu.data, 0).fractionOver).toBeGreaterThan(0);
        expect(onGpu.parameters).toMatch(/, Device: webgpu$/);
        expect(onCpu.parameters).not.toContain('Device:');
      },
    );
  });

  it('runs two pipelines of one process at once without crashing (one lock across threads)', async () => {
    const dir = path.join(tmp, 'fixture');
    await writeFixtureModel(dir);
    // Loaded at once too: session creation races in Dawn as much as runs do.
    const loaded = await Promise.allSettled([
      loadPipeline(dir, { device: 'webgpu' }),
      loadPipeline(dir, { device: 'webgpu' }),
    ]);
    const opened = loaded.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      expect(loaded.filter((r) => r.status === 'rejected')).toEqual([]);
      const [a, b] = opened;
      const request = { prompt: 'two threads', seed: 5, steps: 3, scheduler: 'euler' as const };
      let steps = 0;
      const results = await Promise.all(
        [a, b, a, b].map((p) => p.generate(request, { onStep: () => steps++ })),
      );
      expect(steps).toBe(12);
      const images = await Promise.all(results.map((r) => decodeRgb(r.images[0])));
      // Same seed, same device: the four images agree (within a rounding step).
      for (const img of images.slice(1)) expect(compareRgb(img.data, images[0].data, 1).fractionOver).toBe(0);
    } finally {
      await Promise.all(opened.map((p) => p.close()));
    }
  });

  it('refuses a float16 model at load on an adapter without float16 shaders', async () => {
    const dir = path.join(tmp, 'fixture-fp16');
    await writeFixtureModel(dir, { precision: 'fp16' });
    if ((await probeWebgpu()).shaderF16) {
      // A GPU with shader-f16 (not SwiftShader) runs it.
      const p = await loadPipeline(dir, { device: 'webgpu' });
      await expect(p.generate({ prompt: 'half', steps: 1 })).resolves.toBeDefined();
      await p.close();
      return;
    }
    const err = (await loadPipeline(dir, { device: 'webgpu' }).then(
      () => undefined,
      (e: unknown) => e,
    )) as GiraffeError;
    expect(err).toBeInstanceOf(GiraffeError);
    expect(err.code).toBe('GIRAFFE_ERR_DEVICE_UNSUPPORTED');
    expect(err.message).toMatch(/float16 model.*shader-f16.*float32 export/);
  });

  it('refuses webgpu:N with how to pin a GPU instead', async () => {
    await expect(loadPipeline(path.join(tmp, 'fixture'), { device: 'webgpu:1' })).rejects.toThrow(
      /one worker process \(or container\) per GPU.*NVIDIA_VISIBLE_DEVICES/,
    );
  });
});
