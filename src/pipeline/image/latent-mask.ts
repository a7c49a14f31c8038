import sharp from 'sharp';
import type { DecodedPixels } from './decode-input-image';

/**
 * The latent mask of diffusers' ONNX inpainting pipeline: the mask resized
 * to the latent grid with PIL's NEAREST filter (the pixel at ⌊(i + ½)·H/h⌋,
 * i.e. 8i + 4 at the usual 8× ratio), 1 where its luminance is ≥ 128
 * (`mask / 255 ≥ 0.5`), else 0. [h, w] float32.
 */
export function nearestLatentMask(mask: DecodedPixels, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let i = 0; i < h; i++) {
    const y = Math.min(mask.height - 1, Math.floor(((i + 0.5) * mask.height) / h));
    for (let j = 0; j < w; j++) {
      const x = Math.min(mask.width - 1, Math.floor(((j + 0.5) * mask.width) / w));
      out[i * w + j] = mask.data[y * mask.width + x] >= 128 ? 1 : 0;
    }
  }
  return out;
}

/**
 * The latent mask of 4-channel inpainting (latent mask blending, as
 * AUTOMATIC1111 does it): the mask, optionally Gaussian-blurred by `blur`
 * pixels (σ, as PIL's GaussianBlur radius), averaged over each latent cell.
 * Without blur the cells are rounded to 0/1 (a hard edge); with blur they
 * keep the soft ramp, so the repainted region fades into the kept one.
 */
export async function blendLatentMask(
  mask: DecodedPixels,
  h: number,
  w: number,
  blur: number,
): Promise<Float32Array> {
  const data = blur > 0 ? (await blurMask(mask, blur)).data : mask.data;
  const out = new Float32Array(h * w);
  for (let i = 0; i < h; i++) {
    const y0 = Math.floor((i * mask.height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((i + 1) * mask.height) / h));
    for (let j = 0; j < w; j++) {
      const x0 = Math.floor((j * mask.width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((j + 1) * mask.width) / w));
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += data[y * mask.width + x];
      const v = sum / ((y1 - y0) * (x1 - x0) * 255);
      out[i * w + j] = blur > 0 ? v : v >= 0.5 ? 1 : 0;
    }
  }
  return out;
}

/** The mask Gaussian-blurred by `blur` pixels (σ, as PIL's GaussianBlur radius). */
export async function blurMask(mask: DecodedPixels, blur: number): Promise<DecodedPixels> {
  const bytes = Buffer.from(mask.data.buffer, mask.data.byteOffset, mask.data.byteLength);
  // sharp may hand a one-band raw image back as sRGB (three equal bands): keep the first.
  const blurred = await sharp(bytes, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .blur(Math.max(0.3, blur))
    .extractChannel(0)
    .raw()
    .toBuffer();
  return { ...mask, data: new Uint8Array(blurred.buffer, blurred.byteOffset, mask.width * mask.height) };
}
