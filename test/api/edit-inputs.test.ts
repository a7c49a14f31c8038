import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import sharp from 'sharp';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { centreMaskPng, formBody, gradientPng, unusualImages } from '../helpers/edit-images';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { hasShared, sharedPath } from '../helpers/shared';
import { announceStandInWorker } from '../helpers/stand-in-worker';

// What the API does with an edit's input images before any worker sees them:
// they are checked, stored once beside the job's results (never in the job
// record), described in the record by hash, size and dimensions, and
// deleted with the job. No worker runs here: jobs stay queued, so what is
// stored can be inspected. Runs on both queue drivers.
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const haveModels = hasShared('goldens', 'e2e2', 'img2img-diffusers');

const drivers = [
  ['memory', () => ({})],
  ['bullmq', () => ({ REDIS_URL, REDIS_PREFIX: testPrefix('edit-inputs') })],
] as const;

(haveModels ? describe.each(drivers) : describe.skip.each(drivers))(
  'edit inputs (%s driver)',
  (_name, env) => {
    let svc: DemoService;
    let prefix: string | undefined;

    beforeAll(async () => {
      const settings: Record<string, string> = { ...env(), MAX_QUEUE_DEPTH: '50' };
      prefix = settings.REDIS_PREFIX;
      svc = await startDemoService({
        worker: false,
        env: settings,
        models: {
          img2img: sharedPath('goldens', 'e2e2', 'img2img-diffusers'),
          inpaint: sharedPath('goldens', 'e2e2', 'inpaint-diffusers'),
        },
      });
      // A worker announces the models (so the API queues their jobs) but takes none: jobs stay
      // queued, and what the API stored can be inspected.
      await announceStandInWorker(svc.driver, ['img2img', 'inpaint']);
    });

    afterAll(async () => {
      await svc?.close();
      if (prefix) await deleteKeys(prefix);
    });

    it('stores a JSON (base64) image once, and the record holds only its hash, size and dimensions', async () => {
      const png = await gradientPng(96, 80);
      const res = await svc.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: { prompt: 'a lighthouse', model: 'img2img', image: png.toString('base64'), steps: 2 },
      });
      expect(res.statusCode).toBe(202);
      const job = res.json();
      expect(job.request.image).toEqual({
        sha256: sha256(png),
        bytes: png.length,
        width: 96,
        height: 80,
        content_type: 'image/png',
      });
      // The image's own size, rounded down to a multiple of 8; img2img's default strength.
      expect(job.request).toMatchObject({
        width: 96,
        height: 80,
        strength: 0.8,
        resize_mode: 'crop',
        image_sha256: sha256(png),
      });
      expect(job.request.mask_image).toBeUndefined();
      expect(res.body).not.toContain(png.toString('base64').slice(0, 40));
      const stored = await svc.driver.results.getInput(job.id, 'image');
      expect(stored?.data.equals(png)).toBe(true);
      expect(stored?.content_type).toBe('image/png');
      // What the queue keeps for the job: no bytes, no base64.
      const record = await svc.driver.queue.get(job.id);
      expect(JSON.stringify(record)).not.toContain(png.toString('base64').slice(0, 40));
      expect(record?.request.image?.sha256).toBe(sha256(png));
    });

    it('takes data: URLs and multipart file parts, with text parts coerced to their types', async () => {
      const png = await gradientPng(64, 64);
      const mask = await centreMaskPng(64, 64);
      const viaUrl = await svc.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: {
          prompt: 'x',
          model: 'inpaint',
          image: `data:image/png;base64,${png.toString('base64')}`,
          mask_image: `data:image/png;base64,${mask.toString('base64')}`,
        },
      });
      expect(viaUrl.statusCode).toBe(202);
      expect(viaUrl.json().request).toMatchObject({ strength: 1, mask_blur: 0 });
      expect(viaUrl.json().request.mask_image.sha256).toBe(sha256(mask));

      const form = await formBody({
        prompt: 'a lighthouse',
        model: 'inpaint',
        steps: 3,
        guidance_scale: 6.5,
        seed: 7,
        karras: false,
        strength: 0.9,
        mask_blur: 4,
        resize_mode: 'fit',
        image: png,
        mask_image: mask,
      });
      const viaForm = await svc.app.inject({ method: 'POST', url: '/v1/generate', ...form });
      expect(viaForm.statusCode).toBe(202);
      const job = viaForm.json();
      expect(job.request).toMatchObject({
        prompt: 'a lighthouse',
        steps: 3,
        guidance_scale: 6.5,
        seed: 7,
        karras: false,
        strength: 0.9,
        mask_blur: 4,
        resize_mode: 'fit',
        width: 64,
        height: 64,
      });
      expect((await svc.driver.results.getInput(job.id, 'mask_image'))?.data.equals(mask)).toBe(true);
      expect((await svc.driver.results.getInput(job.id, 'image'))?.data.equals(png)).toBe(true);
    });

    it('decodes 16-bit, CMYK and grayscale-with-alpha images to an 8-bit sRGB PNG', async () => {
      for (const [name, bytes] of Object.entries(await unusualImages())) {
        const res = await svc.app.inject({
          method: 'POST',
          url: '/v1/generate',
          payload: { prompt: name, model: 'img2img', image: bytes.toString('base64') },
        });
        expect([name, res.statusCode]).toEqual([name, 202]);
        const job = res.json();
        const stored = await svc.driver.results.getInput(job.id, 'image');
        const meta = await sharp(stored!.data).metadata();
        expect([name, meta.format, meta.depth, meta.space]).toEqual([name, 'png', 'uchar', 'srgb']);
        expect(job.request.image).toMatchObject({ sha256: sha256(stored!.data), width: 64, height: 64 });
      }
    });

    it('accepts a mask of another size than the image (the pipeline resizes it, as diffusers does)', async () => {
      const res = await svc.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: {
          prompt: 'x',
          model: 'inpaint',
          image: (await gradientPng(64, 64)).toString('base64'),
          mask_image: (await centreMaskPng(32, 48)).toString('base64'),
        },
      });
      expect(res.statusCode).toBe(202);
      expect(res.json().request).toMatchObject({
        width: 64,
        height: 64,
        mask_image: { width: 32, height: 48 },
      });
    });

    it('keeps a request with an Idempotency-Key to one job and one stored image', async () => {
      const png = await gradientPng(64, 64);
      const send = () =>
        svc.app.inject({
          method: 'POST',
          url: '/v1/generate',
          headers: { 'idempotency-key': `edit-${prefix ?? 'memory'}` },
          payload: { prompt: 'same', model: 'img2img', image: png.toString('base64') },
        });
      const first = await send();
      const again = await send();
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json().id).toBe(first.json().id);
    });

    /** Ids of the jobs that have stored images (result hashes in Redis, job folders on disk). */
    async function jobsWithStoredImages(): Promise<string[]> {
      if (prefix) {
        const redis = new Redis(REDIS_URL);
        try {
          const keys = await redis.keys(`${prefix}:result:*`);
          return keys.map((k) => k.slice(`${prefix}:result:`.length)).sort();
        } finally {
          redis.disconnect();
        }
      }
      const dir = path.join(svc.config.DATA_DIR, 'results');
      return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
    }

    it('deletes the stored images when the job cannot be queued', async () => {
      const png = await gradientPng(64, 64);
      const before = await svc.driver.queue.depth('img2img');
      // Fill the queue to MAX_QUEUE_DEPTH (50): the next edit is refused with 503.
      for (let i = before; i < 50; i++) {
        const fill = await svc.app.inject({
          method: 'POST',
          url: '/v1/generate',
          payload: { prompt: 'fill', model: 'img2img' },
        });
        expect(fill.statusCode).toBe(202);
      }
      const stored = await jobsWithStoredImages();
      const refused = await svc.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: { prompt: 'one too many', model: 'img2img', image: png.toString('base64') },
      });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().code).toBe('GIRAFFE_ERR_QUEUE_FULL');
      expect(await jobsWithStoredImages()).toEqual(stored);
    });

    it('deletes input images with the job', async () => {
      const png = await gradientPng(64, 64);
      const res = await svc.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: {
          prompt: 'x',
          model: 'inpaint',
          image: png.toString('base64'),
          mask_image: png.toString('base64'),
        },
      });
      // The depth bound is per model: inpaint's queue has room.
      expect(res.statusCode).toBe(202);
      const id = res.json().id as string;
      expect(await svc.driver.results.getInput(id, 'mask_image')).toBeDefined();
      await svc.driver.results.delete(id);
      expect(await svc.driver.results.getInput(id, 'image')).toBeUndefined();
      expect(await svc.driver.results.getInput(id, 'mask_image')).toBeUndefined();
    });
  },
);
