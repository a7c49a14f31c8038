import { addNoiseBySigmaVp, sigmaForTimestep } from './add-noise';
import { epsilonToX0, vToX0 } from './alpha-prediction';
import { noThresholding, rejectUnsupported, resolveConfig, type ResolvedConfig } from './config';
import { f32, interpAtIndex, roundHalfEven } from './numeric';
import {
  noiseSchedule,
  noiseScheduleDefaults,
  trainingSigmas,
  type NoiseScheduleKey,
} from './noise-schedule';
import { karrasSigmas, sigmaToTimestep } from './sigma-schedule';
import { checkSameSize, StepCounter, stateNumber, stateArray } from './step-support';
import { checkStepCount, dpmTimesteps } from './timestep-spacing';
import type { Scheduler, SchedulerState, StepResult } from './types';

type DpmKey =
  | NoiseScheduleKey
  | 'prediction_type'
  | 'solver_type'
  | 'lower_order_final'
  | 'euler_at_final'
  | 'use_karras_sigmas'
  | 'final_sigmas_type'
  | 'lambda_min_clipped'
  | 'timestep_spacing'
  | 'steps_offset';

const defaults: ResolvedConfig<DpmKey> = {
  ...noiseScheduleDefaults,
  prediction_type: 'epsilon',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity,
  timestep_spacing: 'linspace',
  steps_offset: 0,
};

const unsupported = {
  ...noThresholding,
  use_exponential_sigmas: { allowed: [false], why: 'exponential sigmas are not implemented' },
  use_beta_sigmas: { allowed: [false], why: 'beta sigmas are not implemented' },
  use_lu_lambdas: { allowed: [false], why: 'Lu lambdas are not implemented' },
  use_flow_sigmas: { allowed: [false], why: 'flow-matching sigmas are not implemented' },
  variance_type: { allowed: [], why: 'learned-variance outputs are not implemented' },
};

/** α_t = 1/√(σ²+1) and σ_t = σ·α_t of a variance-preserving x_t = α_t·x₀ + σ_t·ε, plus λ = log(α_t/σ_t). */
interface Level {
  readonly alpha: number;
  readonly sigma: number;
  readonly lambda: number;
}

function level(sigma: number): Level {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  // σ = 0 (the final level) gives λ = +∞ and exp(−h) = 0: the step lands on x₀.
  return { alpha, sigma: sigmaT, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(sigmaT))) };
}

/** x_t = (σ_t/σ_s)·x − α_t(e^{−h} − 1)·D0 per element: the first-order update. */
function firstOrder(
  sample: Float32Array,
  x0: Float32Array,
  sampleCoeff: number,
  d0Coeff: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f32(sampleCoeff * sample[i]) - f32(d0Coeff * x0[i]);
  return out;
}

/** The second-order update with D1 = (D0 − D0_prev)/r0, per element. */
function secondOrder(
  sample: Float32Array,
  x0: Float32Array,
  previous: Float32Array,
  sampleCoeff: number,
  d0Coeff: number,
  invR0: number,
  d1Coeff: number,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x0i = x0[i];
    const d1 = f32(invR0 * f32(x0i - previous[i]));
    out[i] = f32(f32(sampleCoeff * sample[i]) - f32(d0Coeff * x0i)) - f32(d1Coeff * d1);
  }
  return out;
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022, arXiv:2211.01095): diffusers'
 * DPMSolverMultistepScheduler with `algorithm_type: 'dpmsolver++'` and
 * `solver_order: 2` whatever the config says (the name fixes them); its
 * `solver_type`, `lower_order_final`, `euler_at_final`, `final_sigmas_type`
 * and `lambda_min_clipped` are honoured. It integrates the data prediction x₀
 * in log-SNR λ, the first step (and, by default, the last) first-order.
 */
export class DpmSolverMultistepScheduler implements Scheduler {
  readonly name = 'dpmpp_2m' as const;
  readonly isStochastic = false;
  readonly initNoiseSigma = 1;
  readonly #config: ResolvedConfig<DpmKey>;
  readonly #alphasCumprod: Float32Array;
  readonly #karras: boolean;
  readonly #counter = new StepCounter('dpmpp_2m');
  #timesteps: Float32Array = new Float32Array(0);
  #sigmas: Float32Array = new Float32Array(0);
  // Per-run state: the previous step's x₀ and how many steps have run (for the order ramp-up).
  #previousX0: Float32Array | null = null;
  #lowerOrderNums = 0;

  constructor(raw: Readonly<Record<string, unknown>>, karras: boolean | undefined) {
    rejectUnsupported('dpmpp_2m', raw, unsupported);
    this.#config = resolveConfig('dpmpp_2m', raw, defaults);
    this.#alphasCumprod = noiseSchedule(this.#config, 'dpmpp_2m', true).alphasCumprod;
    this.#karras = karras ?? this.#config.use_karras_sigmas;
  }

  get timesteps(): Float32Array {
    return this.#timesteps;
  }

  saveState(): SchedulerState {
    return {
      index: this.#counter.saved,
      previousX0: this.#previousX0?.slice() ?? null,
      lowerOrderNums: this.#lowerOrderNums,
    };
  }

  restoreState(state: SchedulerState): void {
    this.#counter.restore(stateNumber(this.name, state, 'index'));
    this.#previousX0 = stateArray(this.name, state, 'previousX0');
    this.#lowerOrderNums = stateNumber(this.name, state, 'lowerOrderNums') ?? 0;
  }

  get sigmas(): Float32Array {
    return this.#sigmas;
  }

  setTimesteps(numInferenceSteps: number): void {
    const T = this.#config.num_train_timesteps;
    checkStepCount('dpmpp_2m', numInferenceSteps, T);
    const training = trainingSigmas(this.#alphasCumprod);
    let timesteps: Float64Array = dpmTimesteps(
      {
        spacing: this.#config.timestep_spacing,
        numTrainTimesteps: T,
        numInferenceSteps,
        stepsOffset: this.#config.steps_offset,
      },
      T - this.#clippedCount(),
    );
    let sigmas: Float64Array;
    if (this.#karras) {
      sigmas = karrasSigmas(training[0], training[T - 1], numInferenceSteps);
      const logs = training.map(Math.log);
      // Integer timesteps, unlike Euler's (squaredcos_cap_v2 keeps them fractional, as in diffusers).
      const round = this.#config.beta_schedule === 'squaredcos_cap_v2' ? (t: number) => t : roundHalfEven;
      timesteps = sigmas.map((s) => round(sigmaToTimestep(s, logs)));
    } else {
      sigmas = timesteps.map((t) => interpAtIndex(t, training));
    }
    const last = this.#config.final_sigmas_type === 'sigma_min' ? training[0] : 0;
    this.#timesteps = Float32Array.from(timesteps);
    this.#sigmas = Float32Array.from([...sigmas, last]);
    this.#counter.reset();
    this.#previousX0 = null;
    this.#lowerOrderNums = 0;
  }

  /** How many of the lowest-SNR training timesteps `lambda_min_clipped` cuts off. */
  #clippedCount(): number {
    const threshold = this.#config.lambda_min_clipped;
    if (typeof threshold !== 'number' || threshold === -Infinity) return 0;
    // torch.searchsorted on λ flipped into ascending order.
    const ac = this.#alphasCumprod;
    let count = 0;
    for (let t = ac.length - 1; t >= 0; t--) {
      const lambda = f32(
        f32(Math.log(f32(Math.sqrt(ac[t])))) - f32(Math.log(f32(Math.sqrt(f32(1 - ac[t]))))),
      );
      if (lambda >= threshold) break;
      count += 1;
    }
    return count;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return addNoiseBySigmaVp(original, noise, sigmaForTimestep(this.#timesteps, this.#sigmas, timestep));
  }
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): StepResult {
    checkSameSize('dpmpp_2m', modelOutput, sample);
    // An unknown timestep means the last step, as in diffusers.
    const index = this.#counter.current(this.#timesteps, timestep, this.#timesteps.length - 1);
    const count = this.#timesteps.length;
    const cfg = this.#config;
    const lowerOrderFinal =
      index === count - 1 &&
      (cfg.euler_at_final || (cfg.lower_order_final && count < 15) || cfg.final_sigmas_type === 'zero');

    const s0 = level(this.#sigmas[index]);
    const t = level(this.#sigmas[index + 1]);
    const x0 = this.#dataPrediction(modelOutput, sample, s0);
    const h = f32(t.lambda - s0.lambda);
    const expm1 = f32(f32(Math.exp(-h)) - 1);
    const sampleCoeff = f32(t.sigma / s0.sigma);
    const d0Coeff = f32(t.alpha * expm1);

    let prevSample: Float32Array;
    const previous = this.#previousX0;
    if (previous === null || this.#lowerOrderNums < 1 || lowerOrderFinal) {
      // First order: DDIM in λ.
      prevSample = firstOrder(sample, x0, sampleCoeff, d0Coeff);
    } else {
      const s1 = level(this.#sigmas[index - 1]);
      const r0 = f32(f32(s0.lambda - s1.lambda) / h);
      const invR0 = f32(1 / r0);
      const d1Coeff =
        cfg.solver_type === 'midpoint' ? f32(0.5 * d0Coeff) : -f32(t.alpha * f32(f32(expm1 / h) + 1));
      prevSample = secondOrder(sample, x0, previous, sampleCoeff, d0Coeff, invR0, d1Coeff);
    }
    this.#previousX0 = x0;
    if (this.#lowerOrderNums < 2) this.#lowerOrderNums += 1;
    this.#counter.advance();
    return { prevSample, predOriginalSample: x0 };
  }

  /** The model output converted to x₀, the quantity DPM-Solver++ integrates. */
  #dataPrediction(modelOutput: Float32Array, sample: Float32Array, s: Level): Float32Array {
    switch (this.#config.prediction_type) {
      case 'epsilon':
        return epsilonToX0(modelOutput, sample, s.alpha, s.sigma);
      case 'v_prediction':
        return vToX0(modelOutput, sample, s.alpha, s.sigma);
      case 'sample':
        return modelOutput.slice();
    }
  }
}
