import { deflateSync } from 'node:zlib';
import sharp from 'sharp';

/** Test pictures for image edits, made here (nothing downloaded). */

/** A w×h PNG: a gradient, so crops and resizes show. */
export async function gradientPng(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = Math.round((255 * x) / Math.max(1, width - 1));
      raw[i + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      raw[i + 2] = 128;
    }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A black w×h mask with a white rectangle in its middle half (white = repaint). */
export async function centreMaskPng(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height);
  for (let y = height / 4; y < (3 * height) / 4; y++)
    for (let x = width / 4; x < (3 * width) / 4; x++) raw[y * width + x] = 255;
  return sharp(raw, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A decompression bomb: a valid PNG header declaring width×height RGB pixels,
 * followed by a few hundred bytes of zlib data (rows of zeros compress ~1000:1).
 */
export function bombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64 * 1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An animated image (`gif` or `webp`) of `frames` 16×16 frames. */
export async function animated(format: 'gif' | 'webp', frames = 3): Promise<Buffer> {
  const stills = await Promise.all(
    Array.from({ length: frames }, (_, i) =>
      sharp({ create: { width: 16, height: 16, channels: 3, background: { r: i * 60, g: 0, b: 0 } } })
        .png()
        .toBuffer(),
    ),
  );
  const joined = sharp(stills, { join: { animated: true } });
  return format === 'gif' ? joined.gif().toBuffer() : joined.webp().toBuffer();
}

/** Unusual encodings that must decode to 8-bit sRGB: 16-bit PNG, CMYK JPEG, grayscale PNG with alpha. */
export async function unusualImages(): Promise<Record<'png16' | 'cmykJpeg' | 'grayAlphaPng', Buffer>> {
  const base = await gradientPng(64, 64);
  return {
    png16: await sharp(base).toColourspace('rgb16').png().toBuffer(),
    cmykJpeg: await sharp(base).toColourspace('cmyk').jpeg().toBuffer(),
    grayAlphaPng: await sharp(base).ensureAlpha(0.5).toColourspace('b-w').png().toBuffer(),
  };
}

/** A `multipart/form-data` body as `fetch` would send it: the payload and its content type. */
export async function formBody(
  fields: Record<string, string | number | boolean | Buffer | undefined>,
): Promise<{ payload: Buffer; headers: { 'content-type': string } }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (Buffer.isBuffer(value)) form.append(name, new Blob([new Uint8Array(value)]), `${name}.png`);
    else form.append(name, String(value));
  }
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await request.arrayBuffer()),
    headers: { 'content-type': request.headers.get('content-type') ?? '' },
  };
}
