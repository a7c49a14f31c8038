import { addNoiseByAlpha } from './add-noise';
import { clampInPlace, combine, predictX0 } from './alpha-prediction';
import { configError, noThresholding, rejectUnsupported, resolveConfig, type ResolvedConfig } from './config';
import { f32, linspace } from './numeric';
import { noiseSchedule, type NoiseScheduleKey } from './noise-schedule';
import { checkSameSize, requireNoise, StepCounter, stateNumber } from './step-support';
import { checkStepCount } from './timestep-spacing';
import type { Scheduler, SchedulerState, StepOptions, StepResult } from './types';

// LCMScheduler also accepts steps_offset and timestep_spacing but never reads them.
type LcmKey =
  | NoiseScheduleKey
  | 'original_inference_steps'
  | 'clip_sample'
  | 'clip_sample_range'
  | 'set_alpha_to_one'
  | 'prediction_type'
  | 'timestep_scaling';

const defaults: ResolvedConfig<LcmKey> = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  rescale_betas_zero_snr: false,
  original_inference_steps: 50,
  clip_sample: false,
  clip_sample_range: 1,
  set_alpha_to_one: true,
  prediction_type: 'epsilon',
  timestep_scaling: 10,
};

/** σ_data of the consistency-model boundary condition (Song et al. 2023). */
const SIGMA_DATA_SQ = 0.25;

/**
 * Latent consistency model sampling (Luo et al. 2023, arXiv:2310.04378):
 * diffusers' LCMScheduler. Timesteps are a subset of the distillation
 * schedule; each step maps to the clean estimate `denoised` through the
 * boundary scalings c_skip, c_out and, except on the last step, re-noises it
 * to the next timestep with fresh noise.
 */
export class LcmScheduler implements Scheduler {
  readonly name = 'lcm' as const;
  readonly isStochastic = true;
  readonly initNoiseSigma = 1;
  readonly #config: ResolvedConfig<LcmKey>;
  readonly #alphasCumprod: Float32Array;
  readonly #finalAlphaCumprod: number;
  readonly #counter = new StepCounter('lcm');
  #timesteps: Float32Array = new Float32Array(0);

  constructor(raw: Readonly<Record<string, unknown>>) {
    rejectUnsupported('lcm', raw, noThresholding);
    this.#config = resolveConfig('lcm', raw, defaults);
    if (this.#config.original_inference_steps > this.#config.num_train_timesteps) {
      throw configError(
        'lcm',
        `original_inference_steps (${this.#config.original_inference_steps}) exceeds num_train_timesteps`,
        'original_inference_steps',
      );
    }
    this.#alphasCumprod = noiseSchedule(this.#config, 'lcm').alphasCumprod;
    this.#finalAlphaCumprod = this.#config.set_alpha_to_one ? 1 : this.#alphasCumprod[0];
  }

  get timesteps(): Float32Array {
    return this.#timesteps;
  }

  saveState(): SchedulerState {
    return { index: this.#counter.saved };
  }

  restoreState(state: SchedulerState): void {
    this.#counter.restore(stateNumber(this.name, state, 'index'));
  }

  /**
   * Evenly spaced picks (by index, floored) from the distillation schedule
   * k·i − 1 (i = original_inference_steps … 1, k = T // original_inference_steps):
   * 4 steps of 50 give 999, 759, 499, 259.
   */
  setTimesteps(numInferenceSteps: number): void {
    const original = this.#config.original_inference_steps;
    checkStepCount('lcm', numInferenceSteps, original);
    const k = Math.floor(this.#config.num_train_timesteps / original);
    const picks = linspace(0, original, numInferenceSteps, false);
    this.#timesteps = Float32Array.from(picks, (p) => (original - Math.floor(p)) * k - 1);
    this.#counter.reset();
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseByAlpha(this.#alphasCumprod, original, noise, timestep);
  }
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options?: StepOptions): StepResult {
    checkSameSize('lcm', modelOutput, sample);
    const index = this.#counter.current(this.#timesteps, timestep);
    const last = index === this.#timesteps.length - 1;
    const noise = last ? null : requireNoise('lcm', options, sample.length);
    const prevTimestep = last ? timestep : this.#timesteps[index + 1];
    const alphaProd = this.#alphasCumprod[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? this.#alphasCumprod[prevTimestep] : this.#finalAlphaCumprod;

    // Boundary condition: c_skip → 1 and c_out → 0 as t → 0, so f(x, 0) = x.
    const scaled = f32(f32(timestep) * f32(this.#config.timestep_scaling));
    const scaledSq = f32(f32(scaled * scaled) + SIGMA_DATA_SQ);
    const cSkip = f32(SIGMA_DATA_SQ / scaledSq);
    const cOut = f32(scaled / f32(Math.sqrt(scaledSq)));

    const x0 = predictX0(this.#config.prediction_type, modelOutput, sample, alphaProd);
    if (this.#config.clip_sample) clampInPlace(x0, this.#config.clip_sample_range);
    const denoised = combine(cOut, x0, cSkip, sample);

    let prevSample: Float32Array;
    if (noise === null) {
      prevSample = denoised.slice();
    } else {
      const sqrtAlphaPrev = f32(Math.sqrt(alphaProdPrev));
      const sqrtBetaPrev = f32(Math.sqrt(f32(1 - alphaProdPrev)));
      prevSample = combine(sqrtAlphaPrev, denoised, sqrtBetaPrev, noise);
    }
    this.#counter.advance();
    return { prevSample, predOriginalSample: denoised };
  }
}
