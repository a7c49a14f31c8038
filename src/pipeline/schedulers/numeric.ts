/**
 * The numpy and torch primitives diffusers' schedulers are built from, with
 * their rounding reproduced: numpy set-up code runs in float64, torch tensor
 * arithmetic in float32. `f32` after every float32 operation gives the
 * correctly rounded float32 result, as torch's CPU kernels do for + − × ÷ √.
 */

/** Rounds a float64 to the nearest float32, as storing it in a float32 tensor does. */
export const f32 = Math.fround;

/** `numpy.linspace(start, stop, num, endpoint)` in float64: `i·step + start`, the end point set exactly. */
export function linspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `numpy.arange(start, stop, step)` with a float step. numpy fills
 * `start + i·(second − first)`, where `second = start + step`; that difference
 * can round away from `step`, so it is reproduced rather than simplified.
 */
export function arange(start: number, stop: number, step: number): Float64Array {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(length);
  const delta = start + step - start;
  for (let i = 0; i < length; i++) out[i] = start + i * delta;
  if (length > 1) out[1] = start + step;
  return out;
}

/** `numpy.round` / `torch.round`: halves go to the even neighbour (499.5 → 500, 166.5 → 166). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const frac = x - floor;
  if (frac < 0.5) return floor;
  if (frac > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** `numpy.interp(x, arange(len(fp)), fp)`: linear interpolation at a fractional index, clamped at the ends. */
export function interpAtIndex(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  const slope = fp[j + 1] - fp[j];
  return slope * (x - j) + fp[j];
}
