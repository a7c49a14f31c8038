import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startDemoService } from '../helpers/demo-service';
import { compareRgb, decodeRgb } from '../helpers/images';
import { describeWithShared, readSharedJson, sharedPath } from '../helpers/shared';

// `giraffe generate --image … [--mask …] --strength …` with the built CLI, on
// this machine and against a service (--server: the images go up as
// multipart), each compared with diffusers' reference image.
const run = promisify(execFile);
const bin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-cli-edit-'));
const env = { ...process.env, DATA_DIR: path.join(tmp, 'data'), MODELS_DIR: path.join(tmp, 'models') };
const e2e2 = (...parts: string[]): string => sharedPath('goldens', 'e2e2', ...parts);

async function giraffe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env, cwd: tmp });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface EditCase {
  readonly name: string;
  readonly kind: string;
  readonly model: string;
  readonly prompt: string;
  readonly seed: number;
  readonly steps: number;
  readonly guidance_scale: number;
  readonly scheduler: string;
  readonly width: number;
  readonly height: number;
  readonly strength?: number;
  readonly image: string;
  readonly mask_image?: string;
  readonly png: string;
}

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function args(c: EditCase, out: string, model: string): string[] {
  return [
    'generate',
    c.prompt,
    '--model',
    model,
    '--image',
    e2e2(c.image),
    ...(c.mask_image ? ['--mask', e2e2(c.mask_image)] : []),
    '--strength',
    String(c.strength ?? 1),
    '--steps',
    String(c.steps),
    '--seed',
    String(c.seed),
    '--guidance',
    String(c.guidance_scale),
    '--scheduler',
    c.scheduler,
    '--width',
    String(c.width),
    '--height',
    String(c.height),
    '--out',
    out,
  ];
}

async function expectReference(file: string, c: EditCase): Promise<void> {
  const ours = await decodeRgb(file);
  const ref = await decodeRgb(e2e2(c.png));
  expect([ours.width, ours.height]).toEqual([ref.width, ref.height]);
  expect(compareRgb(ours.data, ref.data, 2).fractionOver).toBeLessThanOrEqual(0.02);
}

describeWithShared(['goldens', 'e2e2', 'cases.json'], 'giraffe generate --image', () => {
  const cases = readSharedJson<EditCase[]>('goldens', 'e2e2', 'cases.json');
  const img2img = cases.find((c) => c.kind === 'img2img')!;
  const inpaint = cases.find((c) => c.kind === 'inpaint')!;

  it('runs image-to-image on this machine and gives the reference image', async () => {
    const out = path.join(tmp, 'local-img2img.png');
    const r = await giraffe(args(img2img, out, e2e2(img2img.model)));
    expect([r.code, r.stderr.slice(-500)]).toEqual([0, expect.any(String)]);
    expect(r.stdout).toContain(`seed ${img2img.seed}`);
    await expectReference(out, img2img);
  }, 300_000);

  it('runs inpainting on a service with --server (multipart upload) and gives the reference image', async () => {
    const service = await startDemoService({ models: { [inpaint.model]: e2e2(inpaint.model) } });
    try {
      const base = await service.app.listen({ port: 0, host: '127.0.0.1' });
      const out = path.join(tmp, 'remote-inpaint.png');
      const r = await giraffe([...args(inpaint, out, inpaint.model), '--server', base]);
      expect([r.code, r.stderr.slice(-500)]).toEqual([0, expect.any(String)]);
      await expectReference(out, inpaint);
    } finally {
      await service.close();
    }
  }, 300_000);

  it('refuses --mask without --image, naming the flag', async () => {
    const r = await giraffe(['generate', 'x', '--mask', e2e2(inpaint.mask_image!)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--mask: needs --image');
  });
});
