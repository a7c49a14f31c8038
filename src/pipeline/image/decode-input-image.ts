import sharp from 'sharp';
import { GiraffeError } from '../../errors';
import type { ResizeMode } from '../generate-request';

/** 8-bit pixels, row-major, interleaved (`channels` per pixel). */
export interface DecodedPixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

export interface DecodeInputOptions {
  /** Output size; the image is fitted to it by `resizeMode`. */
  readonly width: number;
  readonly height: number;
  readonly resizeMode: ResizeMode;
  /** sharp's `limitInputPixels`: the decoder refuses a larger image before allocating it. */
  readonly maxPixels: number;
  /** Request field the bytes came from, for error messages. */
  readonly field: string;
}

/** What `fit` pads with: mid-gray, which a VAE maps near zero latents (neither black nor white pull). */
const PAD = { r: 127, g: 127, b: 127 };

/**
 * Decodes an input image to 8-bit sRGB RGB at the requested size:
 * EXIF orientation applied; an animated image's first frame; 16-bit samples
 * reduced to 8; CMYK and other colour spaces converted to sRGB; grayscale
 * expanded to RGB; alpha flattened onto **white** (a transparent background
 * reads as paper, as image editors show it). Sizes differing from the
 * request are fitted by `resizeMode`: `crop` scales to cover and cuts the
 * centre, `fit` scales to fit and pads with mid-gray, `stretch` ignores the
 * aspect ratio. An image already at the size is not resampled at all.
 */
export function decodeInputImage(bytes: Uint8Array, options: DecodeInputOptions): Promise<DecodedPixels> {
  return decode(bytes, options, 3);
}

/**
 * Decodes a mask to 8-bit luminance at the requested size, resized with the
 * same `resizeMode` as its image (a mask of another size is resized to the
 * image, as diffusers does). Colour masks become luminance with PIL's
 * integer ITU-R 601 weights (what diffusers' `mask.convert("L")` gives);
 * alpha is flattened onto black, so transparent pixels are kept, not repainted.
 */
export function decodeInputMask(bytes: Uint8Array, options: DecodeInputOptions): Promise<DecodedPixels> {
  return decode(bytes, options, 1);
}

async function decode(bytes: Uint8Array, o: DecodeInputOptions, channels: 1 | 3): Promise<DecodedPixels> {
  const background = channels === 3 ? '#ffffff' : '#000000';
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    let img = sharp(bytes, { limitInputPixels: o.maxPixels, pages: 1, page: 0, failOn: 'error' })
      .rotate()
      .flatten({ background })
      .toColourspace('srgb');
    const meta = await sharp(bytes, { limitInputPixels: o.maxPixels, pages: 1 }).metadata();
    const rotated = (meta.orientation ?? 1) >= 5;
    const w0 = rotated ? meta.height : meta.width;
    const h0 = rotated ? meta.width : meta.height;
    if (w0 !== o.width || h0 !== o.height) {
      img = img.resize(o.width, o.height, {
        fit: o.resizeMode === 'crop' ? 'cover' : o.resizeMode === 'fit' ? 'contain' : 'fill',
        position: 'centre',
        kernel: 'lanczos3',
        background: { ...PAD, alpha: 1 },
      });
    }
    raw = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    const message = (err as Error).message;
    const tooLarge = /pixel limit/i.test(message);
    throw new GiraffeError(
      tooLarge ? 'GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE' : 'GIRAFFE_ERR_INPUT_IMAGE_INVALID',
      `${o.field}: ${tooLarge ? `more than ${o.maxPixels} pixels` : `cannot be decoded (${message})`}`,
      { field: o.field },
      { cause: err },
    );
  }
  const { data, info } = raw;
  if (info.width !== o.width || info.height !== o.height) {
    throw new GiraffeError(
      'GIRAFFE_ERR_INPUT_IMAGE_INVALID',
      `${o.field}: decoded to ${info.width}×${info.height}, expected ${o.width}×${o.height}`,
      { field: o.field },
    );
  }
  const pixels = o.width * o.height;
  const rgb = toRgb(data, info.channels, pixels);
  if (channels === 3) return { data: rgb, width: o.width, height: o.height, channels };
  const l = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) {
    // PIL's RGB → L: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16.
    l[i] = (rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >>> 16;
  }
  return { data: l, width: o.width, height: o.height, channels };
}

/** sharp's raw output as RGB: three bands pass through; one band (gray) is repeated. */
function toRgb(data: Buffer, channels: number, pixels: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, pixels * 3);
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const at = i * channels;
    const wide = channels >= 3;
    out[3 * i] = data[at];
    out[3 * i + 1] = wide ? data[at + 1] : data[at];
    out[3 * i + 2] = wide ? data[at + 2] : data[at];
  }
  return out;
}
