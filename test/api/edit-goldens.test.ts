import * as fs from 'node:fs';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { formBody } from '../helpers/edit-images';
import { compareRgb, decodeRgb } from '../helpers/images';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { describeWithShared, readSharedJson, sharedPath } from '../helpers/shared';

interface EditCase {
  readonly name: string;
  readonly kind: string;
  readonly model: string;
  readonly prompt: string;
  readonly negative_prompt: string | null;
  readonly seed: number;
  readonly steps: number;
  readonly guidance_scale: number;
  readonly scheduler: string;
  readonly karras: boolean;
  readonly width: number;
  readonly height: number;
  readonly strength?: number;
  readonly image?: string;
  readonly mask_image?: string;
  readonly png: string;
}

// Every image-to-image and inpainting case of diffusers' reference images
// (../shared/goldens/e2e2) made again through the HTTP API: the images go up
// as base64 JSON and as multipart file parts, the job runs on a real worker,
// and the result comes back within 2/255 on ≥ 98 % of values. Both queue
// drivers: embedded (memory queue, images on disk) and BullMQ on Redis.
const e2e2 = (...parts: string[]): string => sharedPath('goldens', 'e2e2', ...parts);

describeWithShared(['goldens', 'e2e2', 'cases.json'], 'edit goldens through POST /v1/generate', () => {
  const cases = readSharedJson<EditCase[]>('goldens', 'e2e2', 'cases.json').filter(
    (c) => c.kind === 'img2img' || c.kind === 'inpaint',
  );
  const drivers = [
    ['embedded (memory queue)', () => ({})],
    ['BullMQ on Redis', () => ({ REDIS_URL, REDIS_PREFIX: testPrefix('edit-goldens') })],
  ] as const;

  describe.each(drivers)('%s', (_name, env) => {
    let svc: DemoService;
    let prefix: string | undefined;

    beforeAll(async () => {
      const settings: Record<string, string> = env();
      prefix = settings.REDIS_PREFIX;
      const models = Object.fromEntries([...new Set(cases.map((c) => c.model))].map((m) => [m, e2e2(m)]));
      svc = await startDemoService({ env: settings, models });
    }, 300_000);

    afterAll(async () => {
      await svc?.close();
      if (prefix) await deleteKeys(prefix);
    });

    const rows = cases.flatMap((c) => (['json', 'multipart'] as const).map((t) => [c.name, t, c] as const));

    it.each(rows)(
      '%s (%s) gives the reference image',
      async (_case, transport, c) => {
        const image = fs.readFileSync(e2e2(c.image ?? ''));
        const mask = c.mask_image ? fs.readFileSync(e2e2(c.mask_image)) : undefined;
        const fields = {
          prompt: c.prompt,
          ...(c.negative_prompt === null ? {} : { negative_prompt: c.negative_prompt }),
          model: c.model,
          seed: c.seed,
          steps: c.steps,
          guidance_scale: c.guidance_scale,
          scheduler: c.scheduler,
          karras: c.karras,
          width: c.width,
          height: c.height,
          output_format: 'png',
          strength: c.strength ?? 1,
        };
        const url = '/v1/generate?wait=true&timeout=300';
        const res =
          transport === 'json'
            ? await svc.app.inject({
                method: 'POST',
                url,
                payload: {
                  ...fields,
                  image: image.toString('base64'),
                  ...(mask ? { mask_image: `data:image/png;base64,${mask.toString('base64')}` } : {}),
                },
              })
            : await svc.app.inject({
                method: 'POST',
                url,
                ...(await formBody({ ...fields, image, ...(mask ? { mask_image: mask } : {}) })),
              });
        const job = res.json();
        expect([res.statusCode, job.status, job.error]).toEqual([200, 'succeeded', undefined]);
        expect(job.request.image.sha256).toBe(job.request.image_sha256);
        const png = await svc.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}/images/0` });
        expect(png.statusCode).toBe(200);
        const ours = await decodeRgb(png.rawPayload);
        const ref = await decodeRgb(e2e2(c.png));
        expect([ours.width, ours.height]).toEqual([ref.width, ref.height]);
        const diff = compareRgb(ours.data, ref.data, 2);
        expect(diff.fractionOver).toBeLessThanOrEqual(0.02);
      },
      600_000,
    );
  });
});
