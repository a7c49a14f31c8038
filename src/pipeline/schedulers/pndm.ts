import { addNoiseByAlpha } from './add-noise';
import { predictX0 } from './alpha-prediction';
import { configError, resolveConfig, type ResolvedConfig } from './config';
import { f32 } from './numeric';
import { noiseSchedule, noiseScheduleDefaults, type NoiseScheduleKey } from './noise-schedule';
import { checkIntegerTimestep, checkSameSize, notReady, stateNumber, stateArray } from './step-support';
import { checkStepCount, spacedTimesteps } from './timestep-spacing';
import type { Scheduler, SchedulerState, StepResult } from './types';

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

// The per-element loops, as small functions V8 optimises whole (a loop inside
// a method is entered by on-stack replacement and deoptimises after it).

/** w·e per element. */
function scaled(w: number, e: Float32Array): Float32Array {
  const n = e.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = w * e[i];
  return out;
}

/** acc += w·e per element, the product rounded to float32. */
function addScaledInPlace(acc: Float32Array, w: number, e: Float32Array): void {
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = acc[i] + f32(w * e[i]);
}

/** (e + e1)/2: the repeated first step's averaged ε. */
function average(out: Float32Array, e: Float32Array, e1: Float32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = f32(e[i] + e1[i]) / 2;
}

/** (3e1 − e2)/2. */
function adamsBashforth2(out: Float32Array, e1: Float32Array, e2: Float32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = f32(f32(3 * e1[i]) - e2[i]) / 2;
}

/** (23e1 − 16e2 + 5e3)/12. */
function adamsBashforth3(out: Float32Array, e1: Float32Array, e2: Float32Array, e3: Float32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = f32(f32(f32(23 * e1[i]) - f32(16 * e2[i])) + f32(5 * e3[i])) / 12;
}

/** (55e1 − 59e2 + 37e3 − 9e4)/24. */
function adamsBashforth4(
  out: Float32Array,
  e1: Float32Array,
  e2: Float32Array,
  e3: Float32Array,
  e4: Float32Array,
): void {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    out[i] = ONE_24TH * f32(f32(f32(f32(55 * e1[i]) - f32(59 * e2[i])) + f32(37 * e3[i])) - f32(9 * e4[i]));
  }
}

/** c·x − (Δᾱ·ε)/d per element: eq. (9) with its scalars folded. */
function transfer(
  sample: Float32Array,
  epsilon: Float32Array,
  sampleCoeff: number,
  alphaDiff: number,
  denom: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = f32(sampleCoeff * sample[i]) - f32(f32(alphaDiff * epsilon[i]) / denom);
  return out;
}

/** {@link transfer} for a v-prediction, with ε = √ᾱ·v + √(1−ᾱ)·x rounded to float32 first. */
function transferV(
  sample: Float32Array,
  v: Float32Array,
  sampleCoeff: number,
  alphaDiff: number,
  denom: number,
  sqrtAlpha: number,
  sqrtBeta: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = sample[i];
    const epsilon = f32(f32(sqrtAlpha * v[i]) + f32(sqrtBeta * x));
    out[i] = f32(sampleCoeff * x) - f32(f32(alphaDiff * epsilon) / denom);
  }
  return out;
}

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
  /** Where PLMS combines the stored ε; only ever read within the step that writes it. */
  #combined: Float32Array = new Float32Array(0);

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

  saveState(): SchedulerState {
    return {
      counter: this.#counter,
      ets: this.#ets.map((e) => e.slice()),
      curSample: this.#curSample?.slice() ?? null,
      curModelOutput: this.#curModelOutput?.slice() ?? null,
    };
  }

  restoreState(state: SchedulerState): void {
    const ets = state.ets;
    if (!Array.isArray(ets) || !ets.every((e) => e instanceof Float32Array)) {
      throw new TypeError(`Scheduler ${this.name}: saved state has no "ets" list`);
    }
    this.#counter = stateNumber(this.name, state, 'counter') ?? 0;
    this.#ets = ets.map((e: Float32Array) => e.slice());
    this.#curSample = stateArray(this.name, state, 'curSample');
    this.#curModelOutput = stateArray(this.name, state, 'curModelOutput');
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
    this.#combined = new Float32Array(0);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseByAlpha(this.#alphasCumprod, original, noise, timestep);
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
      this.#curModelOutput = scaled(ONE_SIXTH, modelOutput);
      this.#ets.push(modelOutput.slice());
      this.#curSample = sample.slice();
    } else {
      // The accumulator is this scheduler's own array, never handed out: update it in place.
      const acc = this.#curModelOutput as Float32Array;
      addScaledInPlace(acc, stage === 3 ? ONE_SIXTH : ONE_THIRD, modelOutput);
      if (stage === 3) {
        output = acc;
        this.#curModelOutput = null;
      }
    }
    return this.#prevSample(this.#curSample ?? sample, stageTimestep, prevTimestep, output);
  }

  /** One linear multistep (Adams–Bashforth) step on the stored ε. */
  #stepPlms(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const ratio = Math.floor(this.#config.num_train_timesteps / this.#numInferenceSteps);
    let from = timestep;
    let to = timestep - ratio;
    let start = sample;
    const n = modelOutput.length;
    if (this.#counter !== 1) {
      // Keep the last three ε and append a copy of this one, reusing the oldest dropped buffer.
      const dropped = this.#ets.splice(0, Math.max(0, this.#ets.length - 3));
      const slot = dropped.length > 0 && dropped[0].length === n ? dropped[0] : new Float32Array(n);
      slot.set(modelOutput);
      this.#ets.push(slot);
    } else {
      // The repeated timestep: redo the first step from its start with the averaged ε.
      from = timestep + ratio;
      to = timestep;
    }
    const ets = this.#ets;
    const count = ets.length;
    const e1 = ets[count - 1];
    if (this.#combined.length !== n) this.#combined = new Float32Array(n);
    const combined = this.#combined;
    let output = combined;
    if (count === 1 && this.#counter === 0) {
      output = modelOutput;
      this.#curSample = sample.slice();
    } else if (count === 1 && this.#counter === 1) {
      average(combined, modelOutput, e1);
      start = this.#curSample as Float32Array;
      this.#curSample = null;
    } else if (count === 2) {
      adamsBashforth2(combined, e1, ets[count - 2]);
    } else if (count === 3) {
      adamsBashforth3(combined, e1, ets[count - 2], ets[count - 3]);
    } else {
      adamsBashforth4(combined, e1, ets[count - 2], ets[count - 3], ets[count - 4]);
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
    const sampleCoeff = f32(Math.sqrt(f32(alphaProdPrev / alphaProd)));
    const denom = f32(
      f32(alphaProd * f32(Math.sqrt(betaProdPrev))) +
        f32(Math.sqrt(f32(f32(alphaProd * betaProd) * alphaProdPrev))),
    );
    const alphaDiff = f32(alphaProdPrev - alphaProd);
    if (this.#config.prediction_type !== 'v_prediction') {
      return transfer(sample, modelOutput, sampleCoeff, alphaDiff, denom);
    }
    const sqrtAlpha = f32(Math.sqrt(alphaProd));
    const sqrtBeta = f32(Math.sqrt(betaProd));
    return transferV(sample, modelOutput, sampleCoeff, alphaDiff, denom, sqrtAlpha, sqrtBeta);
  }
}
