import sharp from 'sharp';

import { insertPngTextChunk } from './png-text-chunk';

/** Output formats {@link encodeImage} writes. */
export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** Options for {@link encodeImage}. */
export interface EncodeImageOptions {
  /**
   * Generation parameters (AUTOMATIC1111 infotext) stored in a PNG `parameters`
   * text chunk. Ignored for JPEG and WebP: libvips writes EXIF strings as
   * ASCII only, which would mangle non-English prompts.
   */
  parameters?: string;
  /**
   * JPEG/WebP quality, 1–100. Ignored for PNG, which is lossless.
   * @defaultValue 90
   */
  quality?: number;
}

const DEFAULT_QUALITY = 90;

/**
 * Encodes interleaved 8-bit RGB pixels (row-major, `width × height × 3`
 * bytes). The same input always gives the same bytes: no timestamps and no
 * other metadata are written.
 */
export async function encodeImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  format: ImageFormat,
  options: EncodeImageOptions = {},
): Promise<Buffer> {
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (rgb.length !== width * height * 3) {
    throw new RangeError(
      `expected ${width}x${height}x3 = ${width * height * 3} bytes of RGB, got ${rgb.length}`,
    );
  }
  const quality = options.quality ?? DEFAULT_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new RangeError(`quality must be an integer from 1 to 100, got ${quality}`);
  }
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  switch (format) {
    case 'png': {
      const png = await image.png().toBuffer();
      return options.parameters === undefined
        ? png
        : insertPngTextChunk(png, 'parameters', options.parameters);
    }
    case 'jpeg':
      return image.jpeg({ quality }).toBuffer();
    case 'webp':
      return image.webp({ quality }).toBuffer();
    default: {
      const unknown: never = format;
      throw new RangeError(`unsupported image format ${String(unknown)}`);
    }
  }
}
