/** Rounds half to even, like `numpy.round` (2.5 → 2, 3.5 → 4). */
export function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; move exact ties that landed on an odd number back down.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * One colour plane of `data` from `src` on, as bytes into every third entry
 * of `rgb` from `offset` on. A function of its own so that V8 optimises the
 * loop as a whole rather than by on-stack replacement inside the caller.
 */
function planeToBytes(data: Float32Array, src: number, plane: number, rgb: Uint8Array, offset: number): void {
  const fround = Math.fround;
  for (let p = 0; p < plane; p++) {
    let v = fround(fround(data[src + p] / 2) + 0.5);
    // Written so that NaN falls through to 0.
    v = v > 0 ? (v < 1 ? v : 1) : 0;
    // roundHalfToEven for 0 ≤ s ≤ 255: `(s + 0.5) | 0` rounds half up (truncation is floor
    // here), and an exact tie that landed on an odd number goes back down to the even one.
    const s = fround(v * 255);
    let r = (s + 0.5) | 0;
    if (r - s === 0.5) r &= ~1;
    rgb[p * 3 + offset] = r;
  }
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
  const images: Uint8Array[] = [];
  for (let b = 0; b < batch; b++) {
    const rgb = new Uint8Array(plane * 3);
    const base = b * 3 * plane;
    for (let c = 0; c < 3; c++) planeToBytes(data, base + c * plane, plane, rgb, c);
    images.push(rgb);
  }
  return images;
}
