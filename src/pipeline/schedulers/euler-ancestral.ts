import { addNoiseBySigma, sigmaForTimestep } from './add-noise';
import { configError, resolveConfig, type ResolvedConfig } from './config';
import { f32 } from './numeric';
import {
  noiseSchedule,
  noiseScheduleDefaults,
  trainingSigmas,
  type NoiseScheduleKey,
} from './noise-schedule';
import { scaleBySigma, sigmaPredictX0 } from './sigma-prediction';
import { eulerInitNoiseSigma, eulerSigmaSchedule } from './sigma-schedule';
import { checkSameSize, requireNoise, StepCounter, stateNumber } from './step-support';
import { checkStepCount } from './timestep-spacing';
import type { Scheduler, SchedulerState, StepOptions, StepResult } from './types';

type EulerAncestralKey = NoiseScheduleKey | 'prediction_type' | 'timestep_spacing' | 'steps_offset';

const defaults: ResolvedConfig<EulerAncestralKey> = {
  ...noiseScheduleDefaults,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
};

/** An Euler step down to σ_down (`dt` = σ_down − σ) plus σ_up of fresh noise, per element. */
function ancestralStep(
  sample: Float32Array,
  x0: Float32Array,
  noise: Float32Array,
  sigma: number,
  dt: number,
  sigmaUp: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = sample[i];
    const drifted = f32(x + f32(f32(f32(x - x0[i]) / sigma) * dt));
    out[i] = drifted + f32(noise[i] * sigmaUp);
  }
  return out;
}

/**
 * Ancestral Euler sampling (k-diffusion's `sample_euler_ancestral`, η = 1):
 * diffusers' EulerAncestralDiscreteScheduler. Each step goes deterministically
 * down to σ_down and adds fresh noise of size σ_up, with
 * σ_down² + σ_up² = σ_next². diffusers' class has no Karras option; with
 * `karras` giraffe builds the sigmas as EulerDiscreteScheduler does (what
 * other UIs call "Euler a Karras"). It reads `use_karras_sigmas` from no
 * config, as diffusers' class does not accept it.
 */
export class EulerAncestralScheduler implements Scheduler {
  readonly name = 'euler_a' as const;
  readonly isStochastic = true;
  readonly #config: ResolvedConfig<EulerAncestralKey>;
  readonly #alphasCumprod: Float32Array;
  readonly #trainingSigmas: Float32Array;
  readonly #karras: boolean;
  readonly #counter = new StepCounter('euler_a');
  #timesteps: Float32Array = new Float32Array(0);
  #sigmas: Float32Array = new Float32Array(0);

  constructor(raw: Readonly<Record<string, unknown>>, karras: boolean | undefined) {
    this.#config = resolveConfig('euler_a', raw, defaults);
    if (this.#config.prediction_type === 'sample') {
      throw configError(
        'euler_a',
        "prediction_type 'sample' is not supported (diffusers does not implement it)",
      );
    }
    this.#alphasCumprod = noiseSchedule(this.#config, 'euler_a', true).alphasCumprod;
    this.#trainingSigmas = trainingSigmas(this.#alphasCumprod);
    this.#karras = karras ?? false;
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

  get sigmas(): Float32Array {
    return this.#sigmas;
  }

  get initNoiseSigma(): number {
    const sigmas = this.#sigmas.length > 0 ? this.#sigmas : this.#trainingSigmas;
    return eulerInitNoiseSigma(sigmas, this.#config.timestep_spacing === 'leading');
  }

  setTimesteps(numInferenceSteps: number): void {
    const T = this.#config.num_train_timesteps;
    checkStepCount('euler_a', numInferenceSteps, T);
    const schedule = eulerSigmaSchedule(
      this.#alphasCumprod,
      {
        spacing: this.#config.timestep_spacing,
        numTrainTimesteps: T,
        numInferenceSteps,
        stepsOffset: this.#config.steps_offset,
      },
      { karras: this.#karras, sigmaMin: null, sigmaMax: null, finalSigmasType: 'zero' },
    );
    this.#timesteps = schedule.timesteps;
    this.#sigmas = schedule.sigmas;
    this.#counter.reset();
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return scaleBySigma(sample, this.#sigmas[this.#counter.current(this.#timesteps, timestep)]);
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseBySigma(original, noise, sigmaForTimestep(this.#timesteps, this.#sigmas, timestep));
  }
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options?: StepOptions): StepResult {
    checkSameSize('euler_a', modelOutput, sample);
    // diffusers draws noise even on the last step (σ_up = 0 there); requiring it keeps the caller's RNG in step.
    const noise = requireNoise('euler_a', options, sample.length);
    const index = this.#counter.current(this.#timesteps, timestep);
    const sigma = this.#sigmas[index];
    const sigmaNext = this.#sigmas[index + 1];
    const x0 = sigmaPredictX0(this.#config.prediction_type, modelOutput, sample, sigma);

    const sigmaSq = f32(sigma * sigma);
    const nextSq = f32(sigmaNext * sigmaNext);
    const sigmaUp = f32(Math.sqrt(f32(f32(nextSq * f32(sigmaSq - nextSq)) / sigmaSq)));
    const sigmaDown = f32(Math.sqrt(f32(nextSq - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigma);

    const prevSample = ancestralStep(sample, x0, noise, sigma, dt, sigmaUp);
    this.#counter.advance();
    return { prevSample, predOriginalSample: x0 };
  }
}
