import { describeWithShared, readSharedJson } from '../../helpers/shared';
import {
  alphasCumprod,
  betasFor,
  createScheduler,
  type CreateSchedulerOptions,
  type SchedulerName,
} from '../../../src/pipeline/schedulers';
import { maxElementRelError, maxRelError } from './fixtures';

/** The parts of `../shared/goldens/schedulers.json` these tests read (its `doc` field has the recipe). */
interface GoldenStep {
  i: number;
  t: number;
  model_input: number[];
  latents_after: number[];
  pred_original_sample?: number[];
  denoised?: number[];
  noise?: number[][];
}

interface GoldenRun {
  name: string;
  scheduler: string;
  config_overrides: Record<string, unknown>;
  num_inference_steps: number;
  timesteps: number[];
  sigmas?: number[];
  init_noise_sigma: number;
  initial_latents: number[];
  steps: GoldenStep[];
}

interface SchedulerGoldens {
  sd15_config: Record<string, unknown>;
  sd15_betas: number[];
  sd15_alphas_cumprod: number[];
  initial_noise_x0: number[];
  runs: GoldenRun[];
}

/** What a float32 port meets, per the goldens README: 2e-5 of the step's largest absolute value. */
const STEP_TOLERANCE = 2e-5;
const SCHEDULE_TOLERANCE = 1e-5;

const classNames: Record<string, SchedulerName> = {
  DDIMScheduler: 'ddim',
  PNDMScheduler: 'pndm',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler_a',
  DPMSolverMultistepScheduler: 'dpmpp_2m',
  LCMScheduler: 'lcm',
};

/** The goldens' fake U-Net: 0.5·input + float32(0.1·cos(t/100)). */
function fakeModel(modelInput: Float32Array, timestep: number): Float32Array {
  const shift = Math.fround(0.1 * Math.cos(timestep / 100));
  return modelInput.map((x) => Math.fround(0.5 * x) + shift);
}

/** x₀ the textbook way, in float64: what pndm and dpmpp_2m previews should show. */
function expectedX0(
  name: SchedulerName,
  run: GoldenRun,
  step: GoldenStep,
  before: number[],
  ac: number[],
): number[] {
  const eps = Array.from(fakeModel(Float32Array.from(step.model_input), step.t));
  let alpha: number;
  let sigma: number;
  if (name === 'dpmpp_2m') {
    const s = (run.sigmas as number[])[step.i];
    alpha = 1 / Math.sqrt(s * s + 1);
    sigma = s * alpha;
  } else {
    alpha = Math.sqrt(ac[step.t]);
    sigma = Math.sqrt(1 - ac[step.t]);
  }
  return before.map((x, i) => (x - sigma * eps[i]) / alpha);
}

describeWithShared(['goldens', 'schedulers.json'], 'schedulers against diffusers goldens', () => {
  const goldens = readSharedJson<SchedulerGoldens>('goldens', 'schedulers.json');

  it('builds the SD 1.5 training schedule', () => {
    expect(maxElementRelError(betasFor(goldens.sd15_config), goldens.sd15_betas)).toBeLessThan(1e-6);
    expect(maxElementRelError(alphasCumprod(goldens.sd15_config), goldens.sd15_alphas_cumprod)).toBeLessThan(
      1e-6,
    );
  });

  it('covers every scheduler', () => {
    const covered = new Set(goldens.runs.map((run) => classNames[run.scheduler]));
    expect([...covered].sort()).toEqual(['ddim', 'dpmpp_2m', 'euler', 'euler_a', 'lcm', 'pndm']);
  });

  describe.each(goldens.runs.map((run) => [run.name, run] as const))('%s', (_name, run) => {
    const name = classNames[run.scheduler];
    const options: CreateSchedulerOptions =
      run.config_overrides.use_karras_sigmas === true ? { karras: true } : {};
    const config = { ...goldens.sd15_config, ...run.config_overrides };

    it('has the same timesteps, sigmas and init_noise_sigma', () => {
      const scheduler = createScheduler(name, config, options);
      scheduler.setTimesteps(run.num_inference_steps);
      expect(maxElementRelError(scheduler.timesteps, run.timesteps)).toBeLessThan(SCHEDULE_TOLERANCE);
      if (run.sigmas === undefined) {
        expect(scheduler.sigmas).toBeUndefined();
      } else {
        expect(maxElementRelError(scheduler.sigmas as Float32Array, run.sigmas)).toBeLessThan(
          SCHEDULE_TOLERANCE,
        );
      }
      expect(Math.abs(scheduler.initNoiseSigma / run.init_noise_sigma - 1)).toBeLessThan(SCHEDULE_TOLERANCE);
      const initial = goldens.initial_noise_x0.map((x) => Math.fround(x * scheduler.initNoiseSigma));
      expect(maxRelError(initial, run.initial_latents)).toBeLessThan(STEP_TOLERANCE);
    });

    it('matches every step of the fake-model run', () => {
      const scheduler = createScheduler(name, config, options);
      scheduler.setTimesteps(run.num_inference_steps);
      let latents: Float32Array = Float32Array.from(run.initial_latents);
      expect(run.steps).toHaveLength(scheduler.timesteps.length);
      for (const step of run.steps) {
        const t = scheduler.timesteps[step.i];
        expect(t).toBe(step.t);
        const modelInput = scheduler.scaleModelInput(latents, t);
        expect(maxRelError(modelInput, step.model_input)).toBeLessThan(STEP_TOLERANCE);

        const noise = step.noise?.[0];
        const out = scheduler.step(
          fakeModel(modelInput, t),
          t,
          latents,
          noise ? { noise: Float32Array.from(noise) } : {},
        );
        expect(maxRelError(out.prevSample, step.latents_after)).toBeLessThan(STEP_TOLERANCE);

        // LCM's pipeline decodes `denoised`; the others record pred_original_sample when their output has it.
        const x0 = step.pred_original_sample ?? step.denoised;
        if (x0 !== undefined) {
          expect(maxRelError(out.predOriginalSample, x0)).toBeLessThan(STEP_TOLERANCE);
        } else {
          const before = step.i === 0 ? run.initial_latents : run.steps[step.i - 1].latents_after;
          const expected = expectedX0(name, run, step, before, goldens.sd15_alphas_cumprod);
          expect(maxRelError(out.predOriginalSample, expected)).toBeLessThan(STEP_TOLERANCE);
        }
        latents = out.prevSample;
      }
    });
  });

  it('reads use_karras_sigmas from the config as diffusers does', () => {
    const run = goldens.runs.find((r) => r.config_overrides.use_karras_sigmas === true);
    expect(run).toBeDefined();
    const { config_overrides: overrides, num_inference_steps: steps, timesteps } = run as GoldenRun;
    const scheduler = createScheduler('dpmpp_2m', { ...goldens.sd15_config, ...overrides });
    scheduler.setTimesteps(steps);
    expect(Array.from(scheduler.timesteps)).toEqual(timesteps);
    // An explicit option wins over the config.
    const plain = createScheduler('dpmpp_2m', { ...goldens.sd15_config, ...overrides }, { karras: false });
    plain.setTimesteps(steps);
    expect(Array.from(plain.timesteps)).not.toEqual(timesteps);
  });
});
