/**
 * The scheduler interface the denoising loop talks to. Every implementation
 * mirrors its diffusers namesake configured from a `scheduler_config.json`.
 */

/** The schedulers giraffe offers, by the short names the API accepts. */
export type SchedulerName = 'euler' | 'euler_a' | 'ddim' | 'pndm' | 'dpmpp_2m' | 'lcm';

/** Every scheduler name, in the order the API documents them. */
export const schedulerNames: readonly SchedulerName[] = Object.freeze([
  'euler',
  'euler_a',
  'ddim',
  'pndm',
  'dpmpp_2m',
  'lcm',
]);

/** Beta schedules diffusers defines for Stable Diffusion models. */
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

/** What the U-Net predicts. */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** How inference timesteps are picked from the training range (Table 2 of arXiv:2305.08891). */
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/**
 * A diffusers `scheduler_config.json`, keys spelled as diffusers writes them.
 * Each scheduler reads only the keys its diffusers class accepts and ignores
 * the rest (`_class_name`, `_diffusers_version`, keys of other classes), just
 * as `SchedulerMixin.from_config` does. `null` means "use the default". A key
 * that is present but malformed, or that asks for a feature giraffe does not
 * implement, is rejected with `GIRAFFE_ERR_MODEL_CONTRACT`.
 */
export interface SchedulerConfig {
  /** Length of the training noise schedule. @defaultValue `1000` */
  num_train_timesteps?: number;
  /** First beta of the schedule. @defaultValue `0.0001` (lcm: `0.00085`) */
  beta_start?: number;
  /** Last beta of the schedule. @defaultValue `0.02` (lcm: `0.012`) */
  beta_end?: number;
  /** Shape of the beta schedule. @defaultValue `'linear'` (lcm: `'scaled_linear'`) */
  beta_schedule?: BetaSchedule;
  /** Explicit betas, one per training timestep; overrides the three keys above. @defaultValue `null` */
  trained_betas?: readonly number[] | null;
  /** Added to every `leading` timestep (SD 1.x uses 1). @defaultValue `0` */
  steps_offset?: number;
  /**
   * ddim, pndm, lcm: use ᾱ = 1 past the last step instead of ᾱ₀.
   * @defaultValue `true` for ddim and lcm, `false` for pndm
   */
  set_alpha_to_one?: boolean;
  /**
   * pndm: skip the Runge–Kutta warm-up and run PLMS only (what SD uses).
   * With `false` giraffe runs diffusers' 12 PRK warm-up calls first.
   * @defaultValue `false`
   */
  skip_prk_steps?: boolean;
  /** What the model predicts; euler_a rejects `'sample'`, pndm accepts only the other two. @defaultValue `'epsilon'` */
  prediction_type?: PredictionType;
  /**
   * Timestep spacing (lcm ignores it, as diffusers does).
   * @defaultValue `'linspace'` for euler, euler_a, dpmpp_2m; `'leading'` for ddim, pndm, lcm
   */
  timestep_spacing?: TimestepSpacing;
  /** ddim, lcm: clamp the predicted x₀ to ±`clip_sample_range`. @defaultValue `true` for ddim, `false` for lcm */
  clip_sample?: boolean;
  /** ddim, lcm: the clamp bound for `clip_sample`. @defaultValue `1` */
  clip_sample_range?: number;
  /** ddim, dpmpp_2m, lcm: dynamic thresholding (pixel-space models only); `true` is rejected. @defaultValue `false` */
  thresholding?: boolean;
  /** euler, dpmpp_2m: Karras et al. (2022) sigmas; `CreateSchedulerOptions.karras` overrides it. @defaultValue `false` */
  use_karras_sigmas?: boolean;
  /** euler with Karras sigmas: lowest sigma; `null` takes it from the schedule. @defaultValue `null` */
  sigma_min?: number | null;
  /** euler with Karras sigmas: highest sigma; `null` takes it from the schedule. @defaultValue `null` */
  sigma_max?: number | null;
  /** euler, dpmpp_2m: the sigma after the last step (`'sigma_min'` keeps σ₀). @defaultValue `'zero'` */
  final_sigmas_type?: 'zero' | 'sigma_min';
  /** euler, euler_a, ddim, dpmpp_2m, lcm: rescale betas to zero terminal SNR (arXiv:2305.08891). @defaultValue `false` */
  rescale_betas_zero_snr?: boolean;
  /** dpmpp_2m: finish with a first-order step when there are fewer than 15 steps. @defaultValue `true` */
  lower_order_final?: boolean;
  /** dpmpp_2m: always finish with a first-order (Euler) step. @defaultValue `false` */
  euler_at_final?: boolean;
  /** dpmpp_2m: second-order formula. @defaultValue `'midpoint'` */
  solver_type?: 'midpoint' | 'heun';
  /** dpmpp_2m: drop timesteps whose log-SNR λ is below this (JSON writes `"-Infinity"`). @defaultValue `-Infinity` */
  lambda_min_clipped?: number | '-Infinity';
  /** lcm: length of the schedule the model was distilled on. @defaultValue `50` */
  original_inference_steps?: number;
  /** lcm: timestep multiplier in the boundary-condition scalings c_skip, c_out. @defaultValue `10` */
  timestep_scaling?: number;
}

/** Per-step inputs beyond the model output. */
export interface StepOptions {
  /**
   * Standard-normal noise the scheduler would draw this step (one value per
   * latent element). Required by euler_a on every step and by lcm on every
   * step but the last; the others ignore it. The caller draws it so that a
   * job's randomness stays in one seeded generator.
   */
  noise?: Float32Array;
}

/** What one denoising step yields. */
export interface StepResult {
  /** The latents for the next step (after the last step: the final latents). */
  prevSample: Float32Array;
  /**
   * The predicted clean latents x₀ at this step, for previews. lcm returns its
   * boundary-condition output `denoised` (what its pipeline decodes), dpmpp_2m
   * the data prediction it integrates, pndm x₀ from this call's model output.
   */
  predOriginalSample: Float32Array;
}

/**
 * A scheduler's per-run state after a step: plain numbers and float32 arrays
 * (copies), enough for a fresh scheduler of the same config, after
 * `setTimesteps` with the same step count, to continue exactly where this one
 * stopped. What a checkpoint keeps of the scheduler.
 */
export type SchedulerState = Readonly<Record<string, number | null | Float32Array | readonly Float32Array[]>>;

/**
 * A stateful sampler. Create one per job: PNDM keeps past model outputs,
 * DPM-Solver its previous data prediction, every sigma scheduler a step index.
 */
export interface Scheduler {
  readonly name: SchedulerName;
  /** Picks the inference timesteps and resets all per-run state. */
  setTimesteps(numInferenceSteps: number): void;
  /** The timesteps to feed the U-Net, in order (pndm repeats its second one). Empty before `setTimesteps`. */
  readonly timesteps: Float32Array;
  /** Sigma schedulers (euler, euler_a, dpmpp_2m): one sigma per step plus a final 0. */
  readonly sigmas?: Float32Array;
  /** Multiplies standard-normal initial latents. */
  readonly initNoiseSigma: number;
  /** True when `step` needs `StepOptions.noise`. */
  readonly isStochastic: boolean;
  /** Scales the latents before the U-Net sees them; may return `sample` itself. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  /**
   * diffusers' `add_noise`: clean latents `original` noised with the
   * standard-normal `noise` to the level of `timestep` (a value of
   * {@link timesteps}), as image-to-image starts and 4-channel inpainting
   * re-noises the kept region. A new array; the arguments are not modified.
   */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array;
  /** Advances one step; never modifies its arguments. */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options?: StepOptions): StepResult;
  /** The per-run state now (copies), for a checkpoint. */
  saveState(): SchedulerState;
  /** Continues from a saved state; call after `setTimesteps` with the step count the state was made with. */
  restoreState(state: SchedulerState): void;
}

/** Choices the request makes on top of the model's scheduler config. */
export interface CreateSchedulerOptions {
  /**
   * Karras sigmas (ρ = 7) for euler, euler_a and dpmpp_2m; an error for the
   * others. Unset: the config's `use_karras_sigmas` decides (euler, dpmpp_2m).
   * @defaultValue `undefined`
   */
  karras?: boolean;
}
