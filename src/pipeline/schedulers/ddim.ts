import { addNoiseByAlpha } from './add-noise';
import { clampInPlace, combine, predictEpsilon, predictX0 } from './alpha-prediction';
import { noThresholding, rejectUnsupported, resolveConfig, type ResolvedConfig } from './config';
import { f32 } from './numeric';
import { noiseSchedule, noiseScheduleDefaults, type NoiseScheduleKey } from './noise-schedule';
import { checkIntegerTimestep, checkSameSize, notReady } from './step-support';
import { checkStepCount, spacedTimesteps } from './timestep-spacing';
import type { Scheduler, SchedulerState, StepResult } from './types';

type DdimKey =
  | NoiseScheduleKey
  | 'clip_sample'
  | 'clip_sample_range'
  | 'set_alpha_to_one'
  | 'steps_offset'
  | 'prediction_type'
  | 'timestep_spacing';

const defaults: ResolvedConfig<DdimKey> = {
  ...noiseScheduleDefaults,
  clip_sample: true,
  clip_sample_range: 1,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
};

/**
 * Deterministic DDIM (Song et al. 2020, η = 0): diffusers' DDIMScheduler.
 * Stateless between steps: the previous timestep is t − T // N.
 */
export class DdimScheduler implements Scheduler {
  readonly name = 'ddim' as const;
  readonly isStochastic = false;
  readonly initNoiseSigma = 1;
  readonly #config: ResolvedConfig<DdimKey>;
  readonly #alphasCumprod: Float32Array;
  /** ᾱ past the last step: 1, or ᾱ₀ when `set_alpha_to_one` is false. */
  readonly #finalAlphaCumprod: number;
  #timesteps: Float32Array = new Float32Array(0);
  #numInferenceSteps = 0;

  constructor(raw: Readonly<Record<string, unknown>>) {
    rejectUnsupported('ddim', raw, noThresholding);
    this.#config = resolveConfig('ddim', raw, defaults);
    this.#alphasCumprod = noiseSchedule(this.#config, 'ddim').alphasCumprod;
    this.#finalAlphaCumprod = this.#config.set_alpha_to_one ? 1 : this.#alphasCumprod[0];
  }

  get timesteps(): Float32Array {
    return this.#timesteps;
  }

  /** DDIM keeps nothing between steps: each step reads only its own timestep. */
  saveState(): SchedulerState {
    return {};
  }

  restoreState(): void {}

  setTimesteps(numInferenceSteps: number): void {
    const T = this.#config.num_train_timesteps;
    checkStepCount('ddim', numInferenceSteps, T);
    const timesteps = spacedTimesteps(
      {
        spacing: this.#config.timestep_spacing,
        numTrainTimesteps: T,
        numInferenceSteps,
        stepsOffset: this.#config.steps_offset,
      },
      false,
    );
    this.#timesteps = Float32Array.from(timesteps);
    this.#numInferenceSteps = numInferenceSteps;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseByAlpha(this.#alphasCumprod, original, noise, timestep);
  }
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): StepResult {
    const T = this.#config.num_train_timesteps;
    const steps = this.#numInferenceSteps;
    if (steps === 0) throw notReady('ddim');
    checkSameSize('ddim', modelOutput, sample);
    checkIntegerTimestep('ddim', timestep, T);
    const prevTimestep = timestep - Math.floor(T / steps);
    const alphaProd = this.#alphasCumprod[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? this.#alphasCumprod[prevTimestep] : this.#finalAlphaCumprod;

    const prediction = this.#config.prediction_type;
    const x0 = predictX0(prediction, modelOutput, sample, alphaProd);
    const epsilon = predictEpsilon(prediction, modelOutput, sample, x0, alphaProd);
    if (this.#config.clip_sample) clampInPlace(x0, this.#config.clip_sample_range);

    // x_{t−1} = √ᾱ_prev·x₀ + √(1−ᾱ_prev)·ε (eq. 12 of the DDIM paper with σ_t = 0)
    const sqrtAlphaPrev = f32(Math.sqrt(alphaProdPrev));
    const direction = f32(Math.sqrt(f32(1 - alphaProdPrev)));
    const prevSample = combine(sqrtAlphaPrev, x0, direction, epsilon);
    return { prevSample, predOriginalSample: x0 };
  }
}
