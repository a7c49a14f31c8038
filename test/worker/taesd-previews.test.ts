import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { JobPreview } from '../../src/jobs';
import { resolveRequest } from '../../src/pipeline';
import { ensureDemoModel, OnnxGraphBuilder } from '../../src/pipeline/demo';
import { sd1LatentRgb, TaesdPreviewDecoder } from '../../src/pipeline/preview';
import { startDemoService, type DemoService } from '../helpers/demo-service';

// A model directory with a `taesd/` decoder gets its previews from it, at the image's full size,
// decoded in a thread of its own. The fixture TAESD is the linear projection as a 1×1
// convolution, upsampled ×8: so its previews must equal the linear ones, pixel for pixel, ×8.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-taesd-'));
let service: DemoService;

async function writeFixtureTaesd(file: string): Promise<void> {
  const g = new OnnxGraphBuilder('fixture_taesd');
  const latents = g.input('latent_sample', 'float32', [1, 4, 'height', 'width']);
  // RGB in [0, 1] = (linear projection in [−1, 1]) / 2 + 1/2: halve the factors, bias 0.5.
  const weight = new Float32Array(3 * 4);
  for (let o = 0; o < 3; o++) for (let c = 0; c < 4; c++) weight[o * 4 + c] = sd1LatentRgb.factors[c][o] / 2;
  const rgb = g.op('Conv', [
    latents,
    g.initializer('w', weight, [3, 4, 1, 1]),
    g.initializer('b', new Float32Array([0.5, 0.5, 0.5]), [3]),
  ]);
  const scales = g.initializer('scales', new Float32Array([1, 1, 8, 8]), [4]);
  g.output(
    'sample',
    'float32',
    [1, 3, 'out_height', 'out_width'],
    g.op('Resize', [rgb, '', scales], { mode: 'nearest' }),
  );
  await g.save(file);
}

beforeAll(async () => {
  const dir = path.join(tmp, 'with-taesd');
  fs.cpSync(await ensureDemoModel(path.join(tmp, 'data')), dir, { recursive: true });
  fs.mkdirSync(path.join(dir, 'taesd'));
  await writeFixtureTaesd(path.join(dir, 'taesd', 'model.onnx'));
  service = await startDemoService({ models: { tiny: dir } });
}, 60_000);

afterAll(async () => {
  await service?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function previewsOf(model: string): Promise<JobPreview[]> {
  const previews: JobPreview[] = [];
  const id = `taesd-${model}-${Date.now()}`;
  const stop = await service.driver.events.subscribe(id, (m) => m.type === 'preview' && previews.push(m));
  const job = await service.driver.queue.enqueue({
    id,
    model,
    request: resolveRequest(
      { prompt: 'a giraffe', width: 128, height: 128, steps: 12, scheduler: 'euler', seed: 4 },
      { size: 128, scheduler: 'euler' },
    ),
  });
  for (let i = 0; i < 200 && (await service.driver.queue.get(job.id))?.status !== 'succeeded'; i++)
    await new Promise((r) => setTimeout(r, 25));
  await stop();
  return previews;
}

it('makes previews with the TAESD decoder at the image size, equal to the linear projection ×8', async () => {
  const [withTaesd, linear] = [await previewsOf('tiny'), await previewsOf('demo')];
  expect(withTaesd.length).toBeGreaterThan(0);
  expect(linear.length).toBeGreaterThan(0);
  for (const p of withTaesd) expect([p.width, p.height, p.rgb.length]).toEqual([128, 128, 128 * 128 * 3]);
  for (const p of linear) expect([p.width, p.height]).toEqual([16, 16]);
  // The last step of both: same seed, same model weights, so the same x₀.
  const a = withTaesd.at(-1)!;
  const b = linear.at(-1)!;
  expect(a.step).toBe(b.step);
  const upscaled = await sharp(b.rgb, { raw: { width: 16, height: 16, channels: 3 } })
    .resize(128, 128, { kernel: 'nearest' })
    .raw()
    .toBuffer();
  let worst = 0;
  for (let i = 0; i < upscaled.length; i++) worst = Math.max(worst, Math.abs(upscaled[i] - a.rgb[i]));
  expect(worst).toBeLessThanOrEqual(1);
}, 60_000);

it('fails a decode asked for after the TAESD thread is gone, at once rather than never', async () => {
  const decoder = await TaesdPreviewDecoder.open(path.join(tmp, 'with-taesd', 'taesd', 'model.onnx'));
  const latents = { shape: [1, 4, 8, 8] as const, data: new Float32Array(4 * 8 * 8) };
  expect((await decoder.decode(latents)).width).toBe(64);
  await decoder.close();
  await expect(decoder.decode(latents)).rejects.toThrow('TAESD thread exited');
});
