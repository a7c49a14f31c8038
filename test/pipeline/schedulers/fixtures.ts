import type { SchedulerConfig } from '../../../src/pipeline/schedulers';

/** Stable Diffusion 1.5's `scheduler/scheduler_config.json` (a PNDMScheduler config). */
export const sd15Config = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  steps_offset: 1,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  clip_sample: false,
} as const satisfies Partial<SchedulerConfig> & Record<string, unknown>;

/** Largest |a − b| divided by the largest |b|: the error measure the goldens' tolerance is stated in. */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
  }
  return Number.isNaN(diff) ? Infinity : diff / (scale || 1);
}

/** Largest element-wise relative error, |a − b| / max(|b|, floor). */
export function maxElementRelError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  floor = 1e-6,
): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor);
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  return worst;
}

/** A seeded standard-normal source (mulberry32 + Box–Muller), for tests that need noise. */
export function gaussian(seed: number): (length: number) => Float32Array {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (length) =>
    Float32Array.from(
      { length },
      () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
    );
}
