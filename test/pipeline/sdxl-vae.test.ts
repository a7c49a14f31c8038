import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GiraffeError } from '../../src/errors';
import { loadPipeline, StableDiffusionPipeline, writeFixtureModel } from '../../src/pipeline';
import { channelStd, decodeRgb } from '../helpers/images';

// SDXL's VAE overflows float16. A mixed export (fp16 U-Net, float32 VAE
// decoder) decodes in float32; an fp16 decoder that overflows fails the job
// instead of returning a black image.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-sdxl-vae-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const request = { prompt: 'a giraffe', seed: 2, steps: 2, width: 64, height: 64 };

it('runs a mixed export: fp16 U-Net and text encoders, float32 VAE decoder', async () => {
  const dir = path.join(tmp, 'mixed');
  await writeFixtureModel(dir, { family: 'sdxl', precision: 'fp16', vaePrecision: 'fp32' });
  const pipeline = await StableDiffusionPipeline.load(dir);
  try {
    expect(pipeline.model.contract.unet.precision).toBe('float16');
    expect(pipeline.model.contract.vaeDecoder.precision).toBe('float32');
    const result = await pipeline.generate(request);
    const img = await decodeRgb(result.images[0]);
    expect(Math.max(...channelStd(img.data))).toBeGreaterThan(1);
  } finally {
    await pipeline.close();
  }
});

it('fails the job, naming the fix, when an fp16 VAE decoder overflows to infinity', async () => {
  const dir = path.join(tmp, 'overflow');
  // The decoder's output × 1e6 exceeds float16's 65504: onnxruntime returns ±inf, as SDXL's VAE does in fp16.
  await writeFixtureModel(dir, { family: 'sdxl', precision: 'fp16', vaeOutputScale: 1e6 });
  const pipeline = await loadPipeline(dir);
  try {
    const err = await pipeline.generate(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GiraffeError);
    expect(err).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_OUTPUT_INVALID' });
    expect((err as Error).message).toMatch(/vae_decoder.*infinite.*float16.*sdxl-vae-fp16-fix/s);
  } finally {
    await pipeline.close();
  }
});
