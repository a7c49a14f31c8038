import { predictX0 } from './alpha-prediction';
import { configError, resolveConfig, type ResolvedConfig } from './config';
import { f32 } from './numeric';
import { noiseSchedule, noiseScheduleDefaults, type NoiseScheduleKey } from './noise-schedule';
import { checkIntegerTimestep, checkSameSize, notReady } from './step-support';
import { checkStepCount, spacedTimesteps } from './timestep-spacing';
import type { Scheduler, StepResult } from './types';

// PNDMScheduler does not accept rescale_betas_zero_snr, so a config's value is ignored.
type PndmKey =
  | Exclude<NoiseScheduleKey, 'rescale_betas_zero_snr'>
  | 'skip_prk_steps'
  | 'set_alpha_to_one'
  | 'prediction_type'
  | 'timestep_spacing'
  | 'steps_offset';

const { rescale_betas_zero_snr: _unused, ...scheduleDefaults } = noiseScheduleDefaults;

const defaults: ResolvedConfig<PndmKey> = {
  ...scheduleDefaults,
  skip_prk_steps: false,
  set_alpha_to_one: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
};

const ONE_SIXTH = f32(1 / 6);
const ONE_THIRD = f32(1 / 3);
const ONE_24TH = f32(1 / 24);

/**
 * Pseudo numerical methods (Liu et al. 2022, arXiv:2202.09778): diffusers'
 * PNDMScheduler. With `skip_prk_steps` (every SD config) it is PLMS: the
 * first step is repeated to average two ε (a Heun-like start), then
 * Adams–Bashforth of order 2, 3 and 4 on the stored ε. Without it, giraffe
 * runs diffusers' Runge–Kutta warm-up: 12 calls over the first three steps.
 */
export class PndmScheduler implements Scheduler {
  readonly name = 'pndm' as const;
  readonly isStochastic = false;
  readonly initNoiseSigma = 1;
  readonly #config: ResolvedConfig<PndmKey>;
  readonly #alphasCumprod: Float32Array;
  readonly #finalAlphaCumprod: number;
  #timesteps: Float32Array = new Float32Array(0);
  #prkCount = 0;
  #numInferenceSteps = 0;
  // Per-run state, cleared by setTimesteps.
  #counter = 0;
  #ets: Float32Array[] = [];
  #curSample: Float32Array | null = null;
  #curModelOutput: Float32Array | null = null;

  constructor(raw: Readonly<Record<string, unknown>>) {
    this.#config = resolveConfig('pndm', raw, defaults);
    if (this.#config.prediction_type === 'sample') {
      throw configError('pndm', "prediction_type 'sample' is not supported (diffusers' PNDM rejects it)");
    }
    const schedule = noiseSchedule({ ...this.#config, rescale_betas_zero_snr: false }, 'pndm');
    this.#alphasCumprod = schedule.alphasCumprod;
    this.#finalAlphaCumprod = this.#config.set_alpha_to_one ? 1 : this.#alphasCumprod[0];
  }

  get timesteps(): Float32Array {
    return this.#timesteps;
  }

  setTimesteps(numInferenceSteps: number): void {
    const T = this.#config.num_train_timesteps;
    checkStepCount('pndm', numInferenceSteps, T);
    const ascending = Array.from(
      spacedTimesteps(
        {
          spacing: this.#config.timestep_spacing,
          numTrainTimesteps: T,
          numInferenceSteps,
          stepsOffset: this.#config.steps_offset,
        },
        false,
      ),
    ).reverse();
    let prk: number[] = [];
    let plms: number[];
    if (this.#config.skip_prk_steps) {
      // The second-to-last ascending entry (the second step) appears twice.
      plms = [...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)].reverse();
    } else {
      // Each of the top four timesteps and its half-step neighbour, each visited twice (RK4 stages).
      const half = Math.floor(Math.floor(T / numInferenceSteps) / 2);
      const pairs = ascending.slice(-4).flatMap((t) => [t, t + half]);
      prk = pairs
        .slice(0, -1)
        .flatMap((t) => [t, t])
        .slice(1, -1)
        .reverse();
      plms = ascending.slice(0, -3).reverse();
    }
    this.#timesteps = Float32Array.from([...prk, ...plms]);
    this.#prkCount = prk.length;
    this.#numInferenceSteps = numInferenceSteps;
    this.#counter = 0;
    this.#ets = [];
    this.#curSample = null;
    this.#curModelOutput = null;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): StepResult {
    if (this.#numInferenceSteps === 0) throw notReady('pndm');
    if (this.#counter >= this.#timesteps.length) {
      throw new RangeError(`Scheduler pndm: all ${this.#timesteps.length} steps are done`);
    }
    checkSameSize('pndm', modelOutput, sample);
    checkIntegerTimestep('pndm', timestep, this.#config.num_train_timesteps);
    // The preview uses this call's own output at its own timestep, not the multistep blend.
    const predOriginalSample = predictX0(
      this.#config.prediction_type,
      modelOutput,
      sample,
      this.#alphasCumprod[timestep],
    );
    const prevSample =
      this.#counter < this.#prkCount
        ? this.#stepPrk(modelOutput, timestep, sample)
        : this.#stepPlms(modelOutput, timestep, sample);
    this.#counter += 1;
    return { prevSample, predOriginalSample };
  }

  /** One Runge–Kutta stage; every fourth call completes a step from the remembered sample. */
  #stepPrk(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const half = Math.floor(Math.floor(this.#config.num_train_timesteps / this.#numInferenceSteps) / 2);
    const prevTimestep = timestep - (this.#counter % 2 === 1 ? 0 : half);
    const stageTimestep = this.#timesteps[Math.floor(this.#counter / 4) * 4];
    let output = modelOutput;
    const stage = this.#counter % 4;
    if (stage === 0) {
      this.#curModelOutput = modelOutput.map((e) => ONE_SIXTH * e);
      this.#ets.push(modelOutput.slice());
      this.#curSample = sample.slice();
    } else if (stage === 1 || stage === 2) {
      const acc = this.#curModelOutput as Float32Array;
      this.#curModelOutput = acc.map((a, i) => a + f32(ONE_THIRD * modelOutput[i]));
    } else {
      const acc = this.#curModelOutput as Float32Array;
      output = acc.map((a, i) => a + f32(ONE_SIXTH * modelOutput[i]));
      this.#curModelOutput = null;
    }
    return this.#prevSample(this.#curSample ?? sample, stageTimestep, prevTimestep, output);
  }

  /** One linear multistep (Adams–Bashforth) step on the stored ε. */
  #stepPlms(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const ratio = Math.floor(this.#config.num_train_timesteps / this.#numInferenceSteps);
    let from = timestep;
    let to = timestep - ratio;
    let start = sample;
    if (this.#counter !== 1) {
      this.#ets = [...this.#ets.slice(-3), modelOutput.slice()];
    } else {
      // The repeated timestep: redo the first step from its start with the averaged ε.
      from = timestep + ratio;
      to = timestep;
    }
    const ets = this.#ets;
    const e = (k: number): Float32Array => ets[ets.length - k];
    let output: Float32Array;
    if (ets.length === 1 && this.#counter === 0) {
      output = modelOutput;
      this.#curSample = sample.slice();
    } else if (ets.length === 1 && this.#counter === 1) {
      output = modelOutput.map((m, i) => f32(m + e(1)[i]) / 2);
      start = this.#curSample as Float32Array;
      this.#curSample = null;
    } else if (ets.length === 2) {
      output = e(1).map((e1, i) => f32(f32(3 * e1) - e(2)[i]) / 2);
    } else if (ets.length === 3) {
      output = e(1).map((e1, i) => f32(f32(f32(23 * e1) - f32(16 * e(2)[i])) + f32(5 * e(3)[i])) / 12);
    } else {
      output = e(1).map(
        (e1, i) =>
          ONE_24TH * f32(f32(f32(f32(55 * e1) - f32(59 * e(2)[i])) + f32(37 * e(3)[i])) - f32(9 * e(4)[i])),
      );
    }
    return this.#prevSample(start, from, to, output);
  }

  /** x_{t−δ} from x_t and ε: eq. (9) of the PNDM paper, in diffusers' float32 order. */
  #prevSample(
    sample: Float32Array,
    timestep: number,
    prevTimestep: number,
    modelOutput: Float32Array,
  ): Float32Array {
    const alphaProd = this.#alphasCumprod[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? this.#alphasCumprod[prevTimestep] : this.#finalAlphaCumprod;
    const betaProd = f32(1 - alphaProd);
    const betaProdPrev = f32(1 - alphaProdPrev);
    let epsilon = modelOutput;
    if (this.#config.prediction_type === 'v_prediction') {
      const sqrtAlpha = f32(Math.sqrt(alphaProd));
      const sqrtBeta = f32(Math.sqrt(betaProd));
      epsilon = modelOutput.map((v, i) => f32(sqrtAlpha * v) + f32(sqrtBeta * sample[i]));
    }
    const sampleCoeff = f32(Math.sqrt(f32(alphaProdPrev / alphaProd)));
    const denom = f32(
      f32(alphaProd * f32(Math.sqrt(betaProdPrev))) +
        f32(Math.sqrt(f32(f32(alphaProd * betaProd) * alphaProdPrev))),
    );
    const alphaDiff = f32(alphaProdPrev - alphaProd);
    return sample.map((x, i) => f32(sampleCoeff * x) - f32(f32(alphaDiff * epsilon[i]) / denom));
  }
}
