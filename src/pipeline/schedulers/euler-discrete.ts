import { addNoiseBySigma, sigmaForTimestep } from './add-noise';
import { rejectUnsupported, resolveConfig, type ResolvedConfig } from './config';
import { f32 } from './numeric';
import {
  noiseSchedule,
  noiseScheduleDefaults,
  trainingSigmas,
  type NoiseScheduleKey,
} from './noise-schedule';
import { scaleBySigma, sigmaPredictX0 } from './sigma-prediction';
import { eulerInitNoiseSigma, eulerSigmaSchedule } from './sigma-schedule';
import { checkSameSize, StepCounter, stateNumber } from './step-support';
import { checkStepCount } from './timestep-spacing';
import type { Scheduler, SchedulerState, StepResult } from './types';

type EulerKey =
  | NoiseScheduleKey
  | 'prediction_type'
  | 'timestep_spacing'
  | 'steps_offset'
  | 'use_karras_sigmas'
  | 'sigma_min'
  | 'sigma_max'
  | 'final_sigmas_type';

const defaults: ResolvedConfig<EulerKey> = {
  ...noiseScheduleDefaults,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
  use_karras_sigmas: false,
  sigma_min: null,
  sigma_max: null,
  final_sigmas_type: 'zero',
};

/** EulerDiscreteScheduler options giraffe leaves out; a config that switches them on is refused. */
const unsupported = {
  interpolation_type: { allowed: ['linear'], why: 'only linear sigma interpolation is implemented' },
  timestep_type: { allowed: ['discrete'], why: 'continuous timesteps are not implemented' },
  use_exponential_sigmas: { allowed: [false], why: 'exponential sigmas are not implemented' },
  use_beta_sigmas: { allowed: [false], why: 'beta sigmas are not implemented' },
};

/**
 * x + (x − x₀)/σ·dt per element: one Euler step along the ODE's derivative.
 * The per-element loops of the schedulers live in small functions like this
 * one, so that V8 optimises each whole (an on-stack replacement inside a
 * method would deoptimise at the first statement after the loop on every step).
 */
function eulerStep(sample: Float32Array, x0: Float32Array, sigma: number, dt: number): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = sample[i];
    out[i] = x + f32(f32(f32(x - x0[i]) / sigma) * dt);
  }
  return out;
}

/**
 * Euler's method on the probability-flow ODE in σ (Karras et al. 2022,
 * Algorithm 1 without churn): diffusers' EulerDiscreteScheduler.
 */
export class EulerDiscreteScheduler implements Scheduler {
  readonly name = 'euler' as const;
  readonly isStochastic = false;
  readonly #config: ResolvedConfig<EulerKey>;
  readonly #alphasCumprod: Float32Array;
  readonly #karras: boolean;
  readonly #counter = new StepCounter('euler');
  readonly #trainingSigmas: Float32Array;
  #timesteps: Float32Array = new Float32Array(0);
  #sigmas: Float32Array = new Float32Array(0);

  constructor(raw: Readonly<Record<string, unknown>>, karras: boolean | undefined) {
    rejectUnsupported('euler', raw, unsupported);
    this.#config = resolveConfig('euler', raw, defaults);
    this.#alphasCumprod = noiseSchedule(this.#config, 'euler', true).alphasCumprod;
    this.#karras = karras ?? this.#config.use_karras_sigmas;
    this.#trainingSigmas = trainingSigmas(this.#alphasCumprod);
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
    // Before setTimesteps diffusers reads the whole training schedule.
    const sigmas = this.#sigmas.length > 0 ? this.#sigmas : this.#trainingSigmas;
    return eulerInitNoiseSigma(sigmas, this.#config.timestep_spacing === 'leading');
  }

  setTimesteps(numInferenceSteps: number): void {
    const T = this.#config.num_train_timesteps;
    checkStepCount('euler', numInferenceSteps, T);
    const schedule = eulerSigmaSchedule(
      this.#alphasCumprod,
      {
        spacing: this.#config.timestep_spacing,
        numTrainTimesteps: T,
        numInferenceSteps,
        stepsOffset: this.#config.steps_offset,
      },
      {
        karras: this.#karras,
        sigmaMin: this.#config.sigma_min,
        sigmaMax: this.#config.sigma_max,
        finalSigmasType: this.#config.final_sigmas_type,
      },
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
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): StepResult {
    checkSameSize('euler', modelOutput, sample);
    const index = this.#counter.current(this.#timesteps, timestep);
    const sigma = this.#sigmas[index];
    const x0 = sigmaPredictX0(this.#config.prediction_type, modelOutput, sample, sigma);
    const dt = f32(this.#sigmas[index + 1] - sigma);
    const prevSample = eulerStep(sample, x0, sigma, dt);
    this.#counter.advance();
    return { prevSample, predOriginalSample: x0 };
  }
}
