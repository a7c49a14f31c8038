import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import OpenAI, { BadRequestError, toFile } from 'openai';
import sharp from 'sharp';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { compareRgb, decodeRgb } from '../helpers/images';
import { describeWithShared, readSharedJson, sharedPath } from '../helpers/shared';

// The real `openai` SDK's images.edit() against a listening giraffe (memory
// driver, a real worker on diffusers' tiny img2img and inpainting exports):
// an opaque image is varied (image-to-image), OpenAI's mask (fully
// transparent = edit) repaints, and both give diffusers' reference images.
const KEY = 'openai-edit-key-0123456789';
const e2e2 = (...parts: string[]): string => sharedPath('goldens', 'e2e2', ...parts);

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

/** The SDK's types know neither our model ids nor giraffe's extension fields; the wire does. */
type EditParams = OpenAI.Images.ImageEditParamsNonStreaming;
const params = (body: Record<string, unknown>): EditParams => body as unknown as EditParams;

async function expectReference(b64: string | undefined, c: EditCase): Promise<void> {
  const ours = await decodeRgb(Buffer.from(b64 ?? '', 'base64'));
  const ref = await decodeRgb(e2e2(c.png));
  expect([ours.width, ours.height]).toEqual([ref.width, ref.height]);
  expect(compareRgb(ours.data, ref.data, 2).fractionOver).toBeLessThanOrEqual(0.02);
}

/**
 * giraffe's mask (white = repaint) as OpenAI's: the area to repaint fully
 * transparent, the rest opaque. The reference mask has soft edges; diffusers
 * repaints where it is ≥ 128, so that is what becomes transparent.
 */
async function openAiMask(giraffeMask: Buffer): Promise<Buffer> {
  const { width, height } = await sharp(giraffeMask).metadata();
  const keep = await sharp(giraffeMask).greyscale().threshold(128).negate().raw().toBuffer();
  const rgb = Buffer.alloc(width! * height! * 3, 255);
  return sharp(rgb, { raw: { width: width!, height: height!, channels: 3 } })
    .joinChannel(keep, { raw: { width: width!, height: height!, channels: 1 } })
    .png()
    .toBuffer();
}

describeWithShared(['goldens', 'e2e2', 'cases.json'], 'POST /v1/images/edits through the openai SDK', () => {
  const cases = readSharedJson<EditCase[]>('goldens', 'e2e2', 'cases.json');
  const img2img = cases.find((c) => c.kind === 'img2img')!;
  const inpaint = cases.find((c) => c.kind === 'inpaint')!;
  let service: DemoService;
  let client: OpenAI;

  beforeAll(async () => {
    service = await startDemoService({
      env: { API_KEYS: KEY },
      models: { [img2img.model]: e2e2(img2img.model), [inpaint.model]: e2e2(inpaint.model) },
    });
    await service.app.listen({ port: 0, host: '127.0.0.1' });
    const baseURL = `http://127.0.0.1:${(service.app.server.address() as AddressInfo).port}/v1`;
    client = new OpenAI({ baseURL, apiKey: KEY, maxRetries: 0, timeout: 300_000 });
  }, 300_000);

  afterAll(async () => {
    await service?.close();
  });

  const knobs = (c: EditCase) => ({
    prompt: c.prompt,
    model: c.model,
    size: `${c.width}x${c.height}`,
    response_format: 'b64_json',
    seed: c.seed,
    steps: c.steps,
    guidance_scale: c.guidance_scale,
    scheduler: c.scheduler,
  });

  it('an opaque image without a mask is image-to-image, and gives the reference image', async () => {
    const image = await toFile(fs.readFileSync(e2e2(img2img.image)), 'init.png', { type: 'image/png' });
    const { data, response } = await client.images
      .edit(params({ ...knobs(img2img), image, strength: img2img.strength }))
      .withResponse();
    expect(data.data).toHaveLength(1);
    await expectReference(data.data?.[0].b64_json, img2img);
    const job = (
      await service.app.inject({
        method: 'GET',
        url: `/v1/jobs/${response.headers.get('x-giraffe-job-id')}`,
        headers: { authorization: `Bearer ${KEY}` },
      })
    ).json();
    expect(job.request).toMatchObject({ strength: img2img.strength });
    expect(job.request.mask_image).toBeUndefined();
  }, 300_000);

  it("repaints a mask's fully transparent pixels (OpenAI's meaning), giving the reference inpainting", async () => {
    const image = await toFile(fs.readFileSync(e2e2(inpaint.image)), 'init.png', { type: 'image/png' });
    const mask = await toFile(await openAiMask(fs.readFileSync(e2e2(inpaint.mask_image!))), 'mask.png', {
      type: 'image/png',
    });
    const res = await client.images.edit(params({ ...knobs(inpaint), image, mask }));
    await expectReference(res.data?.[0].b64_json, inpaint);
  }, 300_000);

  it("without a mask, repaints the image's own transparent pixels", async () => {
    // The init image with the reference mask's area made fully transparent.
    const init = fs.readFileSync(e2e2(inpaint.image));
    const alpha = await sharp(fs.readFileSync(e2e2(inpaint.mask_image!)))
      .greyscale()
      .negate()
      .raw()
      .toBuffer();
    const { width, height } = await sharp(init).metadata();
    // (No removeAlpha here: sharp applies it after joinChannel, which would drop the new alpha.)
    const holed = await sharp(init)
      .joinChannel(alpha, { raw: { width: width!, height: height!, channels: 1 } })
      .png()
      .toBuffer();
    const { data, response } = await client.images
      .edit(params({ ...knobs(inpaint), image: await toFile(holed, 'holed.png', { type: 'image/png' }) }))
      .withResponse();
    expect(data.data?.[0].b64_json).toBeDefined();
    const job = (
      await service.app.inject({
        method: 'GET',
        url: `/v1/jobs/${response.headers.get('x-giraffe-job-id')}`,
        headers: { authorization: `Bearer ${KEY}` },
      })
    ).json();
    // The derived mask: white exactly where the image was fully transparent; its soft edge (partly
    // transparent) is kept, as OpenAI's rule says.
    const stored = await service.driver.results.getInput(job.id, 'mask_image');
    const derived = await sharp(stored!.data).greyscale().raw().toBuffer();
    const expected = Buffer.from(alpha.map((a) => (a === 0 ? 255 : 0)));
    expect(alpha.some((a) => a > 0 && a < 255)).toBe(true);
    expect(compareRgb(derived, expected, 0).fractionOver).toBe(0);
  }, 300_000);

  it('answers url response_format with a fetchable image URL', async () => {
    const image = await toFile(fs.readFileSync(e2e2(img2img.image)), 'init.png', { type: 'image/png' });
    const res = await client.images.edit(
      params({ ...knobs(img2img), steps: 2, response_format: 'url', image, n: 2 }),
    );
    expect(res.data).toHaveLength(2);
    const png = await fetch(res.data![1].url!, { headers: { authorization: `Bearer ${KEY}` } });
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
  }, 300_000);

  it('refuses what is not an image with BadRequestError naming `image`, and a bad mask naming `mask`', async () => {
    const junk = await toFile(Buffer.from('not a picture at all'), 'junk.png', { type: 'image/png' });
    const error = await client.images
      .edit(params({ ...knobs(img2img), image: junk }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, param: 'image', code: 'GIRAFFE_ERR_INPUT_IMAGE_INVALID' });

    const image = await toFile(fs.readFileSync(e2e2(img2img.image)), 'init.png', { type: 'image/png' });
    const badMask = await client.images
      .edit(params({ ...knobs(img2img), image, mask: junk }))
      .catch((e: unknown) => e);
    expect(badMask).toMatchObject({ status: 400, param: 'mask', code: 'GIRAFFE_ERR_INPUT_IMAGE_INVALID' });
    expect(await service.driver.queue.depth()).toBe(0);
  }, 300_000);
});
