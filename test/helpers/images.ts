import sharp from 'sharp';

/** Decodes any image to raw RGB. */
export async function decodeRgb(
  image: Buffer | string,
): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Largest per-value difference and the share of values that differ by more than `tolerance`. */
export function compareRgb(
  a: Uint8Array,
  b: Uint8Array,
  tolerance: number,
): { maxDiff: number; fractionOver: number; meanDiff: number } {
  if (a.length !== b.length) throw new Error(`images differ in size: ${a.length} vs ${b.length} values`);
  let maxDiff = 0;
  let over = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > maxDiff) maxDiff = d;
    if (d > tolerance) over++;
  }
  return { maxDiff, fractionOver: over / a.length, meanDiff: sum / a.length };
}

/** Per-channel standard deviation of interleaved RGB: near 0 for a flat picture. */
export function channelStd(rgb: Uint8Array): [number, number, number] {
  const n = rgb.length / 3;
  const out: number[] = [];
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let s2 = 0;
    for (let i = c; i < rgb.length; i += 3) {
      s += rgb[i];
      s2 += rgb[i] * rgb[i];
    }
    out.push(Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)));
  }
  return out as [number, number, number];
}
