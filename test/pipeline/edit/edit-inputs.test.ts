import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { GiraffeError } from '../../../src/errors';
import {
  modelModesFromDirectory,
  probeImage,
  readModelDirectory,
  resolveRequest,
  sha256Of,
  sizeForImage,
  StableDiffusionPipeline,
  writeFixtureModel,
} from '../../../src/pipeline';
import { decodeInputImage, decodeInputMask } from '../../../src/pipeline/image/decode-input-image';

const defaults = { size: 512, scheduler: 'pndm' } as const;
const fit = { width: 32, height: 32, resizeMode: 'crop', maxPixels: 1e6, field: 'image' } as const;

function solid(width: number, height: number, background: string): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background } })
    .png()
    .toBuffer();
}

/** A PNG signature and IHDR chunk declaring `width`×`height`, and no pixels: a decompression bomb's header. */
function bombHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.set([8, 2, 0, 0, 0], 16);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr]);
}

function errorOf(fn: () => unknown): GiraffeError {
  try {
    fn();
  } catch (err) {
    return err as GiraffeError;
  }
  throw new Error('expected an error');
}

describe('image request fields', () => {
  let png: Buffer;
  let mask: Buffer;
  beforeAll(async () => {
    png = await solid(101, 67, '#336699');
    mask = await solid(101, 67, '#ffffff');
  });

  it('records strength, resize mode and the inputs’ sha256, never their bytes', () => {
    const r = resolveRequest({ prompt: 'x', image: png, mask_image: mask, seed: 1 }, defaults);
    expect(r).toMatchObject({
      strength: 1,
      mask_blur: 0,
      resize_mode: 'crop',
      image_sha256: sha256Of(png),
      mask_image_sha256: sha256Of(mask),
    });
    expect(Object.keys(r)).not.toContain('image');
    expect(Object.keys(r)).not.toContain('mask_image');
    expect(JSON.stringify(r).length).toBeLessThan(1000);
    expect(resolveRequest({ prompt: 'x', image: png }, defaults).strength).toBe(0.8);
  });

  it('sizes the output from the image, rounded to a multiple of 8 within the limits', () => {
    expect(resolveRequest({ prompt: 'x', image: png }, defaults)).toMatchObject({ width: 104, height: 64 });
    expect(sizeForImage(3000, 1000, undefined, undefined)).toEqual({ width: 2048, height: 680 });
    expect(sizeForImage(3000, 1000, 512, undefined)).toEqual({ width: 512, height: 168 });
    expect(sizeForImage(20, 20, undefined, undefined)).toEqual({ width: 64, height: 64 });
  });

  it.each([
    [{ strength: 0 }, 'strength'],
    [{ strength: -0.5 }, 'strength'],
    [{ strength: 1.01 }, 'strength'],
    [{ mask_blur: 65 }, 'mask_image'],
    [{ resize_mode: 'zoom' }, 'resize_mode'],
  ])('refuses %j naming the field', (extra, field) => {
    const err = errorOf(() => resolveRequest({ prompt: 'x', image: png, ...extra }, defaults));
    expect(err.code).toBe('GIRAFFE_ERR_REQUEST_INVALID');
    expect(err.status).toBe(400);
    expect(err.message).toContain(field === 'mask_image' ? 'mask_blur' : field);
  });

  it('refuses mask_image, strength and mask_blur without an image', () => {
    for (const extra of [{ mask_image: mask }, { strength: 0.5 }, { resize_mode: 'fit' }]) {
      const err = errorOf(() => resolveRequest({ prompt: 'x', ...extra }, defaults));
      expect(err.code).toBe('GIRAFFE_ERR_REQUEST_INVALID');
      expect(err.details.field).toBe(Object.keys(extra)[0]);
    }
    const blur = errorOf(() => resolveRequest({ prompt: 'x', image: png, mask_blur: 4 }, defaults));
    expect(blur.details.field).toBe('mask_blur');
  });

  it('refuses bytes that are not an image, and a sha256 that does not match', () => {
    const err = errorOf(() =>
      resolveRequest({ prompt: 'x', image: Buffer.from('definitely not a picture') }, defaults),
    );
    expect(err.code).toBe('GIRAFFE_ERR_INPUT_IMAGE_INVALID');
    expect(err.status).toBe(400);
    expect(err.details.field).toBe('image');
    const mismatch = errorOf(() =>
      resolveRequest({ prompt: 'x', image: png, image_sha256: 'a'.repeat(64) }, defaults),
    );
    expect(mismatch.details.field).toBe('image_sha256');
  });

  it('refuses a decompression bomb from its header, before decoding', async () => {
    const bomb = bombHeader(100_000, 100_000);
    expect(probeImage(bomb)).toEqual({ format: 'png', width: 100_000, height: 100_000, pages: 1 });
    const err = errorOf(() => resolveRequest({ prompt: 'x', image: bomb }, defaults));
    expect(err.code).toBe('GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE');
    expect(err.status).toBe(413);
    // The decoder's own limit refuses it too, should a header lie.
    await expect(
      decodeInputImage(await solid(64, 64, '#000'), { ...fit, maxPixels: 1000 }),
    ).rejects.toMatchObject({
      code: 'GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE',
    });
  });

  it('probes PNG, JPEG, WebP and GIF headers', async () => {
    const base = sharp({ create: { width: 40, height: 24, channels: 3, background: '#123456' } });
    for (const format of ['png', 'jpeg', 'webp', 'gif'] as const) {
      const bytes = await base.clone().toFormat(format).toBuffer();
      expect(probeImage(bytes)).toMatchObject({ format, width: 40, height: 24 });
    }
    const lossless = await base.clone().webp({ lossless: true }).toBuffer();
    expect(probeImage(lossless)).toMatchObject({ width: 40, height: 24 });
    expect(probeImage(Buffer.from('GIF8'))).toBeUndefined();
  });
});

describe('decoding input images to 8-bit sRGB', () => {
  it('takes the first frame of an animated image', async () => {
    const red = await solid(32, 32, '#ff0000');
    const blue = await solid(32, 32, '#0000ff');
    const animated = await sharp([red, blue], { join: { animated: true } })
      .webp({ lossless: true })
      .toBuffer();
    expect(probeImage(animated)?.pages).toBe(2);
    const d = await decodeInputImage(animated, fit);
    expect([d.width, d.height, d.channels, d.data.length]).toEqual([32, 32, 3, 32 * 32 * 3]);
    expect(Array.from(d.data.subarray(0, 3))).toEqual([255, 0, 0]);
  });

  it('reduces 16-bit samples to 8 bits', async () => {
    const deep = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#00ff80' } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(deep).metadata()).depth).toBe('ushort');
    const d = await decodeInputImage(deep, fit);
    const [r, g, b] = d.data;
    expect(r).toBeLessThan(3);
    expect(g).toBeGreaterThan(252);
    expect(Math.abs(b - 128)).toBeLessThan(3);
  });

  it('converts CMYK to sRGB', async () => {
    const cmyk = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ff0000' } })
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const d = await decodeInputImage(cmyk, fit);
    const [r, g, b] = d.data.subarray(3 * (16 * 32 + 16));
    expect(r).toBeGreaterThan(180);
    expect(g).toBeLessThan(90);
    expect(b).toBeLessThan(90);
  });

  it('expands grayscale and flattens alpha onto white', async () => {
    const pixels = Buffer.alloc(32 * 32 * 2);
    for (let i = 0; i < 32 * 32; i++) {
      pixels[2 * i] = 40; // gray level
      pixels[2 * i + 1] = i < 32 * 16 ? 255 : 0; // top half opaque, bottom half transparent
    }
    const grayAlpha = await sharp(pixels, { raw: { width: 32, height: 32, channels: 2 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    const meta = await sharp(grayAlpha).metadata();
    expect([meta.channels, meta.hasAlpha]).toEqual([2, true]);
    const d = await decodeInputImage(grayAlpha, fit);
    expect(Array.from(d.data.subarray(0, 3))).toEqual([40, 40, 40]);
    expect(Array.from(d.data.subarray(3 * 32 * 31, 3 * 32 * 31 + 3))).toEqual([255, 255, 255]);
  });

  it('fits by crop, fit and stretch', async () => {
    // 64×32: left half red, right half blue.
    const wide = await sharp({ create: { width: 64, height: 32, channels: 3, background: '#0000ff' } })
      .composite([{ input: await solid(32, 32, '#ff0000'), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const at = (d: { data: Uint8Array; width: number }, x: number, y: number): number[] =>
      Array.from(d.data.subarray(3 * (y * d.width + x), 3 * (y * d.width + x) + 3));
    const crop = await decodeInputImage(wide, { ...fit, resizeMode: 'crop' });
    expect(at(crop, 2, 16)).toEqual([255, 0, 0]); // the centre 32×32: red on the left …
    expect(at(crop, 29, 16)).toEqual([0, 0, 255]); // … blue on the right
    const padded = await decodeInputImage(wide, { ...fit, resizeMode: 'fit' });
    expect(at(padded, 16, 1)).toEqual([127, 127, 127]); // letterbox bars of mid-gray
    expect(at(padded, 4, 16)).toEqual([255, 0, 0]);
    const stretched = await decodeInputImage(wide, { ...fit, resizeMode: 'stretch' });
    expect(at(stretched, 4, 1)).toEqual([255, 0, 0]); // no bars: the image fills the frame
    expect(at(stretched, 28, 30)).toEqual([0, 0, 255]);
  });

  it('applies EXIF orientation, in the size a request takes from the header too', async () => {
    // 96×48 stored, left half red, right half blue; orientation 6 shows it turned 90° clockwise.
    const stored = await sharp({ create: { width: 96, height: 48, channels: 3, background: '#0000ff' } })
      .composite([{ input: await solid(48, 48, '#ff0000'), left: 0, top: 0 }])
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect(probeImage(stored)).toMatchObject({ width: 96, height: 48, orientation: 6 });
    const r = resolveRequest({ prompt: 'x', image: stored }, defaults);
    expect([r.width, r.height]).toEqual([64, 96]); // 48 → 64 (the minimum side), 96
    const d = await decodeInputImage(stored, { ...fit, width: 48, height: 96 });
    const top = Array.from(d.data.subarray(3 * (4 * 48 + 24), 3 * (4 * 48 + 24) + 3));
    const bottom = Array.from(d.data.subarray(3 * (90 * 48 + 24), 3 * (90 * 48 + 24) + 3));
    expect(top[0]).toBeGreaterThan(200);
    expect(bottom[2]).toBeGreaterThan(200);
  });

  it('reads a mask as PIL luminance and resizes a mask of another size to the image', async () => {
    const small = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#000' } })
      .composite([{ input: await solid(8, 16, '#ffffff'), left: 8, top: 0 }])
      .png()
      .toBuffer();
    const m = await decodeInputMask(small, { ...fit, field: 'mask_image' });
    expect([m.width, m.height, m.channels]).toEqual([32, 32, 1]);
    expect(m.data[16 * 32 + 2]).toBe(0);
    expect(m.data[16 * 32 + 30]).toBe(255);
    const green = await decodeInputMask(await solid(32, 32, '#00ff00'), fit);
    expect(green.data[0]).toBe(150); // (255·38470 + 0x8000) >> 16
  });

  it('answers undecodable bytes with a 400 naming the field', async () => {
    const png = await solid(32, 32, '#000');
    const truncated = png.subarray(0, 60);
    await expect(decodeInputImage(truncated, { ...fit, field: 'mask_image' })).rejects.toMatchObject({
      code: 'GIRAFFE_ERR_INPUT_IMAGE_INVALID',
      details: { field: 'mask_image' },
    });
  });
});

describe('what a model can do', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-edit-modes-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('refuses an image for a model without vae_encoder, naming what is missing', async () => {
    const dir = path.join(tmp, 'no-encoder');
    await writeFixtureModel(dir);
    const pipeline = await StableDiffusionPipeline.load(dir);
    try {
      expect(pipeline.info.modes['text-to-image']).toEqual({ supported: true });
      // What an API process reads from the files alone, without onnxruntime, agrees.
      expect(modelModesFromDirectory(readModelDirectory(dir))).toEqual(pipeline.info.modes);
      expect(pipeline.info.modes['image-to-image'].supported).toBe(false);
      expect(pipeline.info.modes['image-to-image'].reason).toContain('vae_encoder');
      const image = await solid(64, 64, '#808080');
      await expect(pipeline.generate({ prompt: 'x', image, steps: 2 })).rejects.toMatchObject({
        code: 'GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED',
        status: 400,
        message: expect.stringContaining('vae_encoder'),
      });
    } finally {
      await pipeline.close();
    }
  });

  it('refuses a text-only request to a 9-channel inpainting model, and inpaints with one', async () => {
    const dir = path.join(tmp, 'inpainting');
    await writeFixtureModel(dir, { inpainting: true, vaeEncoder: 'latent_sample' });
    const pipeline = await StableDiffusionPipeline.load(dir);
    try {
      expect(pipeline.model.contract.unet).toMatchObject({ sampleChannels: 9, latentChannels: 4 });
      expect(pipeline.info.modes['text-to-image'].supported).toBe(false);
      expect(modelModesFromDirectory(readModelDirectory(dir))).toEqual(pipeline.info.modes);
      await expect(pipeline.generate({ prompt: 'x', steps: 2 })).rejects.toMatchObject({
        code: 'GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED',
        message: expect.stringContaining('inpainting U-Net'),
      });
      const image = await solid(64, 64, '#808080');
      const mask = await solid(64, 64, '#ffffff');
      const result = await pipeline.generate({
        prompt: 'x',
        image,
        mask_image: mask,
        steps: 3,
        scheduler: 'ddim',
        seed: 1,
      });
      expect(result.timings.unet_calls).toBe(3);
      expect([result.width, result.height]).toEqual([64, 64]);
    } finally {
      await pipeline.close();
    }
  });
});
