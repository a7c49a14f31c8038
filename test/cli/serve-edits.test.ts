import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { centreMaskPng, formBody, gradientPng } from '../helpers/edit-images';
import { killAll, listeningAddress, startGiraffe } from '../helpers/processes';

// A fresh `giraffe serve` (the built CLI, embedded mode, nothing but an empty
// DATA_DIR) edits images out of the box: the demo model does image-to-image,
// its generated `demo-inpaint` twin inpaints, and `GET /v1/models` says so.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-serve-edits-'));

afterAll(async () => {
  await killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('serves image-to-image on demo and inpainting on demo-inpaint from a fresh start', async () => {
  const serve = startGiraffe(['serve'], {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
  });
  const base = await listeningAddress(serve, 120_000);
  const models = (await (await fetch(`${base}/v1/models`)).json()) as {
    models: { id: string; modes?: string[] }[];
  };
  const modes = Object.fromEntries(models.models.map((m) => [m.id, m.modes]));
  expect(modes).toEqual({
    demo: ['text-to-image', 'image-to-image', 'inpainting'],
    'demo-inpaint': ['inpainting'],
  });

  const image = await gradientPng(64, 64);
  const img2img = await fetch(`${base}/v1/generate?wait=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'a giraffe', steps: 3, image: image.toString('base64'), strength: 0.6 }),
  });
  const job = (await img2img.json()) as { status: string; request: Record<string, unknown> };
  expect([img2img.status, job.status]).toEqual([200, 'succeeded']);
  expect(job.request).toMatchObject({ width: 64, height: 64, strength: 0.6 });

  const form = await formBody({
    prompt: 'a giraffe',
    model: 'demo-inpaint',
    steps: 3,
    image,
    mask_image: await centreMaskPng(64, 64),
  });
  const inpaint = await fetch(`${base}/v1/generate?wait=true`, {
    method: 'POST',
    headers: form.headers,
    body: new Uint8Array(form.payload),
  });
  const inpainted = (await inpaint.json()) as { id: string; status: string };
  expect([inpaint.status, inpainted.status]).toEqual([200, 'succeeded']);
  const png = Buffer.from(await (await fetch(`${base}/v1/jobs/${inpainted.id}/images/0`)).arrayBuffer());
  expect(await sharp(png).metadata()).toMatchObject({ width: 64, height: 64 });
}, 180_000);
