/** Rounds half to even, like `numpy.round` (2.5 → 2, 3.5 → 4). */
export function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; move exact ties that landed on an odd number back down.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Turns VAE decoder output (NCHW `[batch, 3, height, width]`, values in
 * [−1, 1]) into one interleaved RGB byte array (HWC) per image.
 *
 * Matches diffusers' float32 numpy post-processing exactly:
 * `clip(x / 2 + 0.5, 0, 1)`, then `(x * 255).round()` — numpy rounds half to
 * even — then `astype(uint8)`. Every step rounds to float32 as numpy does.
 * NaN becomes 0.
 */
export function vaeOutputToRgb(
  data: Float32Array,
  batch: number,
  height: number,
  width: number,
): Uint8Array[] {
  for (const [name, value] of [
    ['batch', batch],
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0)
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const plane = height * width;
  if (data.length !== batch * 3 * plane) {
    throw new RangeError(
      `expected ${batch}×3×${height}×${width} = ${batch * 3 * plane} values, got ${data.length}`,
    );
  }
  const fround = Math.fround;
  const images: Uint8Array[] = [];
  for (let b = 0; b < batch; b++) {
    const rgb = new Uint8Array(plane * 3);
    const base = b * 3 * plane;
    for (let c = 0; c < 3; c++) {
      const src = base + c * plane;
      for (let p = 0; p < plane; p++) {
        let v = fround(fround(data[src + p] / 2) + 0.5);
        // Written so that NaN falls through to 0.
        v = v > 0 ? (v < 1 ? v : 1) : 0;
        rgb[p * 3 + c] = roundHalfToEven(fround(v * 255));
      }
    }
    images.push(rgb);
  }
  return images;
}
