import { configError, resolveConfig, type ResolvedConfig } from './config';
import { f32, linspace } from './numeric';
import type { SchedulerConfig } from './types';

/** The config keys that define the training noise schedule. */
export type NoiseScheduleKey =
  | 'num_train_timesteps'
  | 'beta_start'
  | 'beta_end'
  | 'beta_schedule'
  | 'trained_betas'
  | 'rescale_betas_zero_snr';

/** The noise-schedule keys with defaults filled in. */
export type NoiseScheduleConfig = ResolvedConfig<NoiseScheduleKey>;

/** diffusers' defaults for the noise-schedule keys (every class but LCMScheduler). */
export const noiseScheduleDefaults: NoiseScheduleConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  rescale_betas_zero_snr: false,
};

/** Training noise schedule: float32 arrays of length `num_train_timesteps`. */
export interface NoiseSchedule {
  readonly betas: Float32Array;
  /** ᾱ_t = ∏(1 − β), the signal fraction left at training timestep t. */
  readonly alphasCumprod: Float32Array;
}

/** Glide's cosine schedule (`betas_for_alpha_bar`), computed in float64 and stored as float32 like diffusers. */
function cosineBetas(steps: number): Float32Array {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float32Array(steps);
  for (let i = 0; i < steps; i++) {
    betas[i] = Math.min(1 - alphaBar((i + 1) / steps) / alphaBar(i / steps), 0.999);
  }
  return betas;
}

/** torch.cumprod on a float32 tensor: the CPU kernel accumulates in float64 and stores float32. */
function cumprod(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) {
    acc *= values[i];
    out[i] = acc;
  }
  return out;
}

function oneMinus(values: Float32Array): Float32Array {
  return values.map((v) => 1 - v);
}

/**
 * Rescales betas so that the last timestep is pure noise (zero SNR),
 * Algorithm 1 of arXiv:2305.08891, in diffusers' float32 order of operations.
 */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const sqrtBar = cumprod(oneMinus(betas)).map(Math.sqrt);
  const first = sqrtBar[0];
  const last = sqrtBar[sqrtBar.length - 1];
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((s) => {
    const shifted = f32(f32(s - last) * scale);
    return shifted * shifted;
  });
  const alphas = bar.map((b, i) => (i === 0 ? b : b / bar[i - 1]));
  return oneMinus(alphas);
}

/** Betas of the training schedule, as diffusers builds them in float32. */
export function trainingBetas(
  config: NoiseScheduleConfig,
  owner: Parameters<typeof configError>[0],
): Float32Array {
  const steps = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas !== null) {
    if (config.trained_betas.length !== steps) {
      throw configError(
        owner,
        `trained_betas has ${config.trained_betas.length} entries but num_train_timesteps is ${steps}`,
        'trained_betas',
      );
    }
    betas = Float32Array.from(config.trained_betas);
  } else if (config.beta_schedule === 'linear') {
    // torch.linspace in float32; a float64 linspace rounded once differs by at most 1 ulp.
    betas = Float32Array.from(linspace(config.beta_start, config.beta_end, steps));
  } else if (config.beta_schedule === 'scaled_linear') {
    const roots = Float32Array.from(
      linspace(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), steps),
    );
    betas = roots.map((r) => r * r);
  } else {
    betas = cosineBetas(steps);
  }
  return config.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(betas) : betas;
}

/**
 * The training noise schedule. `zeroSnrFloor` mirrors Euler and DPM-Solver,
 * which replace a terminal ᾱ of exactly 0 by 2⁻²⁴ so that σ stays finite.
 */
export function noiseSchedule(
  config: NoiseScheduleConfig,
  owner: Parameters<typeof configError>[0],
  zeroSnrFloor = false,
): NoiseSchedule {
  const betas = trainingBetas(config, owner);
  const alphasCumprod = cumprod(oneMinus(betas));
  if (config.rescale_betas_zero_snr && zeroSnrFloor) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  return { betas, alphasCumprod };
}

/** Training sigmas σ_t = √((1 − ᾱ_t)/ᾱ_t) in float32, ascending in t. */
export function trainingSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => Math.sqrt(f32(f32(1 - a) / a)));
}

/**
 * Betas of a scheduler config's training schedule (float32, one per training
 * timestep). Missing keys take diffusers' defaults: 1000 steps, `linear`
 * from 0.0001 to 0.02; pass the model's `scheduler_config.json`.
 */
export function betasFor(config: Partial<SchedulerConfig> | Record<string, unknown>): Float32Array {
  return trainingBetas(resolveConfig('noise schedule', config, noiseScheduleDefaults), 'noise schedule');
}

/**
 * ᾱ_t = ∏(1 − β) of a scheduler config's training schedule (float32, one per
 * training timestep), as DDIM-type schedulers use it. Defaults as {@link betasFor}.
 */
export function alphasCumprod(config: Partial<SchedulerConfig> | Record<string, unknown>): Float32Array {
  return noiseSchedule(resolveConfig('noise schedule', config, noiseScheduleDefaults), 'noise schedule')
    .alphasCumprod;
}
