import sharp from 'sharp';
import { GiraffeError } from '../errors';
import type { InputImageName, InputImageRef } from '../jobs';

/** Bounds on an input image: its file size, and the pixels its header may declare. */
export interface InputImageLimits {
  readonly maxBytes: number;
  readonly maxPixels: number;
}

/** An input image accepted at the edge: the bytes to store, and what the job record says about them. */
export interface AcceptedImage {
  readonly data: Buffer;
  readonly ref: InputImageRef;
}

const contentTypes: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

// Standard or URL-safe base64, padding optional; whitespace (line breaks of MIME encoders) allowed.
const base64Text = /^[A-Za-z0-9+/_\-\s]*={0,2}\s*$/;
const dataUrl = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)?((?:;[a-z0-9-]+=[^;,]*)*);base64,/i;

/**
 * The bytes of an image field: a multipart file part as it came, or JSON's
 * base64 / `data:` URL text decoded. The size bound is checked on the text
 * before decoding, so an oversized upload costs no decode.
 */
export function imageFieldBytes(
  field: InputImageName,
  value: string | Buffer,
  limits: InputImageLimits,
): Buffer {
  if (Buffer.isBuffer(value)) {
    if (value.length > limits.maxBytes) throw tooManyBytes(field, value.length, limits);
    if (value.length === 0) throw invalid(field, 'the file part is empty');
    return value;
  }
  let text = value;
  const url = dataUrl.exec(text);
  if (url) text = text.slice(url[0].length);
  else if (text.startsWith('data:')) {
    throw invalid(field, 'a data URL must be base64 (`data:image/png;base64,…`)');
  }
  // 4 characters carry 3 bytes; refuse before allocating.
  const estimate = Math.floor((text.length * 3) / 4);
  if (estimate > limits.maxBytes + 3) throw tooManyBytes(field, estimate, limits);
  if (!base64Text.test(text)) {
    throw invalid(field, 'must be base64 or a data: URL (the text holds characters base64 does not use)');
  }
  const bytes = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  if (bytes.length === 0) throw invalid(field, 'is empty');
  if (bytes.length > limits.maxBytes) throw tooManyBytes(field, bytes.length, limits);
  return bytes;
}

/**
 * Checks that `bytes` are one PNG, JPEG or WebP picture within the pixel
 * bound, and returns what to store. The header is read first (sharp's
 * metadata: no pixels decoded), so a decompression bomb is refused on its
 * declared size; then the whole image is decoded once, with sharp's
 * `limitInputPixels`, on libuv's thread pool (never on the event loop), so
 * truncated or corrupt files are refused here and not by a worker later.
 * 16-bit, CMYK, grayscale (with alpha) and images with a colour profile are
 * stored as an 8-bit sRGB PNG (alpha kept); 8-bit sRGB files are stored as sent.
 */
export async function acceptInputImage(
  field: InputImageName,
  bytes: Buffer,
  limits: InputImageLimits,
): Promise<AcceptedImage> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw invalid(field, 'is not an image giraffe can read (PNG, JPEG or WebP)');
  }
  const type = meta.format ? contentTypes[meta.format] : undefined;
  if (!type) {
    throw invalid(
      field,
      `is ${meta.format ? `a ${meta.format} file` : 'of an unknown format'}; send PNG, JPEG or WebP`,
    );
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width < 1 || height < 1) throw invalid(field, 'declares no size');
  const pages = meta.pages ?? 1;
  if (width * height * pages > limits.maxPixels) {
    throw new GiraffeError(
      'GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE',
      `${field}: declares ${width}×${height} pixels${pages > 1 ? ` in ${pages} frames` : ''}, more than ` +
        `MAX_INPUT_IMAGE_PIXELS (${limits.maxPixels}); it was not decoded`,
      { field },
    );
  }
  if (pages > 1) {
    throw invalid(field, `is animated (${pages} frames); send a single still image`);
  }
  const plain =
    meta.depth === 'uchar' &&
    meta.space === 'srgb' &&
    (meta.channels === 3 || meta.channels === 4) &&
    !meta.hasProfile;
  try {
    const decoder = sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated' });
    if (plain) {
      // Decoded only to prove it decodes; the stored bytes are the client's.
      await decoder.raw().toBuffer();
      return { data: bytes, ref: await refOf(bytes, width, height, type) };
    }
    const normalised = await decoder.toColourspace('srgb').png().toBuffer();
    return { data: normalised, ref: await refOf(normalised, width, height, 'image/png') };
  } catch {
    throw invalid(field, 'could not be decoded (truncated or corrupt image data)');
  }
}

async function refOf(
  data: Buffer,
  width: number,
  height: number,
  contentType: string,
): Promise<InputImageRef> {
  // WebCrypto hashes on the thread pool: a 20 MB upload does not hold the event loop.
  const digest = await crypto.subtle.digest('SHA-256', data);
  return {
    sha256: Buffer.from(digest).toString('hex'),
    bytes: data.length,
    width,
    height,
    content_type: contentType,
  };
}

function invalid(field: InputImageName, message: string): GiraffeError {
  return new GiraffeError('GIRAFFE_ERR_INPUT_IMAGE_INVALID', `${field}: ${message}`, { field });
}

function tooManyBytes(field: InputImageName, bytes: number, limits: InputImageLimits): GiraffeError {
  return new GiraffeError(
    'GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE',
    `${field}: ${bytes} bytes, more than MAX_INPUT_IMAGE_BYTES (${limits.maxBytes})`,
    { field },
  );
}
