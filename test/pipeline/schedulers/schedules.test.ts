import { isGiraffeError } from '../../../src/errors';
import {
  alphasCumprod,
  betasFor,
  createScheduler,
  lcmGuidanceEmbedding,
  type Scheduler,
  type SchedulerName,
} from '../../../src/pipeline/schedulers';
import { gaussian, maxRelError, sd15Config } from './fixtures';

/** Expected values below were computed with numpy from diffusers' formulas. */

function timestepsOf(name: SchedulerName, config: Record<string, unknown>, steps: number): number[] {
  const s = createScheduler(name, { ...sd15Config, ...config });
  s.setTimesteps(steps);
  return Array.from(s.timesteps);
}

describe('timestep spacing', () => {
  it.each<[SchedulerName, string, number, number[]]>([
    ['ddim', 'trailing', 7, [999, 856, 713, 570, 428, 285, 142]],
    // 832.5 and 166.5 round half to even, as numpy does.
    ['ddim', 'linspace', 7, [999, 832, 666, 500, 333, 166, 0]],
    ['ddim', 'leading', 7, [853, 711, 569, 427, 285, 143, 1]],
    ['euler', 'linspace', 7, [999, 832.5, 666, 499.5, 333, 166.5, 0]],
    ['euler', 'trailing', 4, [999, 749, 499, 249]],
    ['euler_a', 'linspace', 4, [999, 666, 333, 0]],
    ['pndm', 'trailing', 4, [999, 749, 749, 499, 249]],
    ['pndm', 'linspace', 4, [999, 666, 666, 333, 0]],
    ['dpmpp_2m', 'linspace', 4, [999, 749, 500, 250]],
    ['dpmpp_2m', 'trailing', 4, [999, 749, 499, 249]],
    ['dpmpp_2m', 'leading', 4, [801, 601, 401, 201]],
    // LCM ignores timestep_spacing: picks from its 50-step distillation schedule.
    ['lcm', 'trailing', 4, [999, 759, 499, 259]],
  ])('%s %s with %i steps', (name, spacing, steps, expected) => {
    expect(timestepsOf(name, { timestep_spacing: spacing }, steps)).toEqual(expected);
  });

  it('uses each class default when the config names no spacing (SD 1.5 names none)', () => {
    expect(timestepsOf('euler', {}, 4)).toEqual([999, 666, 333, 0]);
    expect(timestepsOf('euler_a', {}, 4)).toEqual([999, 666, 333, 0]);
    expect(timestepsOf('dpmpp_2m', {}, 4)).toEqual([999, 749, 500, 250]);
    expect(timestepsOf('ddim', {}, 4)).toEqual([751, 501, 251, 1]);
    expect(timestepsOf('pndm', {}, 4)).toEqual([751, 501, 501, 251, 1]);
    expect(timestepsOf('lcm', {}, 4)).toEqual([999, 759, 499, 259]);
  });

  it('runs SD-Turbo style: one Euler step at t = 999 with σ_max as init sigma', () => {
    const s = createScheduler('euler', { ...sd15Config, timestep_spacing: 'trailing' });
    s.setTimesteps(1);
    expect(Array.from(s.timesteps)).toEqual([999]);
    expect(s.initNoiseSigma).toBeCloseTo(14.6146, 3);
    expect(s.sigmas?.[0]).toBe(s.initNoiseSigma);
  });

  it('keeps exactly N trailing steps where numpy arange overshoots (diffusers runs N + 1)', () => {
    for (const name of ['ddim', 'euler', 'dpmpp_2m'] as const) {
      const ts = timestepsOf(name, { timestep_spacing: 'trailing' }, 61);
      expect(ts).toHaveLength(61);
      expect(ts[60]).toBe(15);
    }
  });

  it('uses √(σ_max² + 1) as init sigma for leading spacing only', () => {
    const leading = createScheduler('euler', { ...sd15Config, timestep_spacing: 'leading' });
    leading.setTimesteps(20);
    const sigmaMax = (leading.sigmas as Float32Array)[0];
    expect(leading.initNoiseSigma).toBeCloseTo(Math.sqrt(sigmaMax ** 2 + 1), 5);
    const linspace = createScheduler('euler', sd15Config);
    linspace.setTimesteps(20);
    expect(linspace.initNoiseSigma).toBe((linspace.sigmas as Float32Array)[0]);
  });

  it('rejects step counts outside the schedule', () => {
    expect(() => createScheduler('ddim', sd15Config).setTimesteps(0)).toThrow(/step count/);
    expect(() => createScheduler('euler', sd15Config).setTimesteps(2.5)).toThrow(/step count/);
    expect(() => createScheduler('lcm', sd15Config).setTimesteps(51)).toThrow(/from 1 to 50/);
  });
});

/** One step from a random sample with a random model output. */
function oneStep(name: SchedulerName, config: Record<string, unknown>) {
  const s: Scheduler = createScheduler(name, { ...sd15Config, ...config });
  s.setTimesteps(10);
  const t = s.timesteps[0];
  const x = gaussian(11)(64);
  const out = gaussian(12)(64);
  s.scaleModelInput(x, t);
  const result = s.step(out, t, x, { noise: gaussian(13)(64) });
  return { s, t, x, out, result };
}

describe('prediction types', () => {
  const ac = alphasCumprod(sd15Config);

  it('ddim v-prediction: x₀ = √ᾱ·x − √(1−ᾱ)·v and ε = √ᾱ·v + √(1−ᾱ)·x', () => {
    const { t, x, out: v, result } = oneStep('ddim', { prediction_type: 'v_prediction' });
    const [a, aPrev] = [ac[t], ac[t - 100]];
    const x0 = x.map((xi, i) => Math.sqrt(a) * xi - Math.sqrt(1 - a) * v[i]);
    const eps = x.map((xi, i) => Math.sqrt(a) * v[i] + Math.sqrt(1 - a) * xi);
    expect(maxRelError(result.predOriginalSample, x0)).toBeLessThan(1e-6);
    const prev = x0.map((x0i, i) => Math.sqrt(aPrev) * x0i + Math.sqrt(1 - aPrev) * eps[i]);
    expect(maxRelError(result.prevSample, prev)).toBeLessThan(1e-6);
  });

  it('ddim sample prediction and clip_sample', () => {
    const { out, result } = oneStep('ddim', {
      prediction_type: 'sample',
      clip_sample: true,
      clip_sample_range: 0.5,
    });
    expect(Array.from(result.predOriginalSample)).toEqual(
      Array.from(out, (v) => Math.min(Math.max(v, -0.5), 0.5)),
    );
  });

  it('pndm v-prediction takes the same first step as ddim', () => {
    const config = { prediction_type: 'v_prediction', set_alpha_to_one: true };
    const pndm = oneStep('pndm', config).result;
    const ddim = oneStep('ddim', config).result;
    expect(maxRelError(pndm.prevSample, ddim.prevSample)).toBeLessThan(1e-5);
    expect(maxRelError(pndm.predOriginalSample, ddim.predOriginalSample)).toBeLessThan(1e-6);
  });

  it('euler v-prediction: x₀ = −σ/√(σ²+1)·v + x/(σ²+1)', () => {
    const { s, x, out: v, result } = oneStep('euler', { prediction_type: 'v_prediction' });
    const sigma = (s.sigmas as Float32Array)[0];
    const x0 = x.map((xi, i) => (-sigma / Math.sqrt(sigma ** 2 + 1)) * v[i] + xi / (sigma ** 2 + 1));
    expect(maxRelError(result.predOriginalSample, x0)).toBeLessThan(1e-6);
  });

  it('euler sample prediction passes the model output through', () => {
    const { out, result } = oneStep('euler', { prediction_type: 'sample' });
    expect(result.predOriginalSample).toEqual(out);
  });

  it('dpmpp_2m v-prediction: x₀ = α·x − σ_t·v', () => {
    const { s, x, out: v, result } = oneStep('dpmpp_2m', { prediction_type: 'v_prediction' });
    const sigma = (s.sigmas as Float32Array)[0];
    const alpha = 1 / Math.sqrt(sigma ** 2 + 1);
    const x0 = x.map((xi, i) => alpha * xi - sigma * alpha * v[i]);
    expect(maxRelError(result.predOriginalSample, x0)).toBeLessThan(1e-6);
  });

  it('lcm v-prediction feeds the boundary condition', () => {
    const { t, x, out: v, result } = oneStep('lcm', { prediction_type: 'v_prediction' });
    const a = alphasCumprod({ ...sd15Config })[t];
    const scaled = t * 10;
    const cSkip = 0.25 / (scaled ** 2 + 0.25);
    const cOut = scaled / Math.sqrt(scaled ** 2 + 0.25);
    const denoised = x.map((xi, i) => cOut * (Math.sqrt(a) * xi - Math.sqrt(1 - a) * v[i]) + cSkip * xi);
    expect(maxRelError(result.predOriginalSample, denoised)).toBeLessThan(1e-6);
  });

  it('rejects prediction types diffusers does not implement', () => {
    expect(() => createScheduler('euler_a', { prediction_type: 'sample' })).toThrow(/sample/);
    expect(() => createScheduler('pndm', { prediction_type: 'sample' })).toThrow(/sample/);
  });
});

describe('DPM-Solver++(2M) second-order step', () => {
  // Lu et al. 2022 (arXiv:2211.01095) eqs. in λ = log(α/σ): D1 = (x0 − x0_prev)/r0 with r0 = h_prev/h.
  it.each(['midpoint', 'heun'] as const)('follows the %s formula', (solverType) => {
    const s = createScheduler('dpmpp_2m', { ...sd15Config, solver_type: solverType });
    s.setTimesteps(10);
    const sigmas = s.sigmas as Float32Array;
    const level = (sigma: number) => {
      const alpha = 1 / Math.sqrt(sigma ** 2 + 1);
      return { alpha, sigma: sigma * alpha, lambda: Math.log(1 / sigma) };
    };
    const noise = gaussian(31);
    let x = noise(64);
    const x0s: Float32Array[] = [];
    let before = x;
    for (let i = 0; i < 2; i++) {
      before = x;
      const result = s.step(noise(64), s.timesteps[i], x);
      x0s.push(result.predOriginalSample);
      x = result.prevSample;
    }
    const [s1, s0, t] = [level(sigmas[0]), level(sigmas[1]), level(sigmas[2])];
    const h = t.lambda - s0.lambda;
    const r0 = (s0.lambda - s1.lambda) / h;
    const phi = Math.expm1(-h);
    const expected = before.map((xi, i) => {
      const d1 = (x0s[1][i] - x0s[0][i]) / r0;
      const base = (t.sigma / s0.sigma) * xi - t.alpha * phi * x0s[1][i];
      return solverType === 'midpoint'
        ? base - 0.5 * t.alpha * phi * d1
        : base + t.alpha * (phi / h + 1) * d1;
    });
    expect(maxRelError(x, expected)).toBeLessThan(1e-5);
  });
});

describe('PNDM with its Runge–Kutta warm-up (skip_prk_steps false)', () => {
  const config = { ...sd15Config, skip_prk_steps: false, set_alpha_to_one: true };

  it('runs 12 warm-up calls then PLMS', () => {
    const s = createScheduler('pndm', config);
    s.setTimesteps(10);
    // The top four timesteps with their half steps (100 apart, half = 50), then PLMS from the
    // fourth-highest down, which diffusers visits a second time: N + 9 U-Net calls.
    expect(Array.from(s.timesteps)).toEqual([
      901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1,
    ]);
  });

  it('drives latents to x₀ with a perfect model', () => {
    const s = createScheduler('pndm', config);
    s.setTimesteps(10);
    const ac = alphasCumprod(config);
    const noise = gaussian(21);
    const x0 = noise(64);
    let x = noise(64);
    for (const t of s.timesteps) {
      const eps = x.map((v, i) => (v - Math.sqrt(ac[t]) * x0[i]) / Math.sqrt(1 - ac[t]));
      x = s.step(eps, t, x).prevSample;
    }
    expect(maxRelError(x, x0)).toBeLessThan(1e-4);
  });
});

describe('scheduler config', () => {
  const codeOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (e) {
      return isGiraffeError(e) ? e.code : 'not a GiraffeError';
    }
    return undefined;
  };

  it('ignores keys the class does not accept and treats null as the default', () => {
    const s = createScheduler('euler', { ...sd15Config, sigma_min: null, foo: 1, set_alpha_to_one: 'no' });
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([999, 666, 333, 0]);
  });

  it('rejects malformed values and unsupported features with GIRAFFE_ERR_MODEL_CONTRACT', () => {
    expect(codeOf(() => createScheduler('ddim', { beta_schedule: 'cosine' }))).toBe(
      'GIRAFFE_ERR_MODEL_CONTRACT',
    );
    expect(codeOf(() => createScheduler('euler', { num_train_timesteps: '1000' }))).toBe(
      'GIRAFFE_ERR_MODEL_CONTRACT',
    );
    expect(codeOf(() => createScheduler('ddim', { thresholding: true }))).toBe('GIRAFFE_ERR_MODEL_CONTRACT');
    expect(codeOf(() => createScheduler('euler', { use_exponential_sigmas: true }))).toBe(
      'GIRAFFE_ERR_MODEL_CONTRACT',
    );
    expect(codeOf(() => createScheduler('dpmpp_2m', { variance_type: 'learned_range' }))).toBe(
      'GIRAFFE_ERR_MODEL_CONTRACT',
    );
    expect(() => createScheduler('ddim', { beta_schedule: 'cosine' })).toThrow(
      /beta_schedule must be one of/,
    );
    expect(codeOf(() => createScheduler('euler', { use_exponential_sigmas: false }))).toBeUndefined();
  });

  it('accepts lambda_min_clipped as written by Python ("-Infinity") and clips with a number', () => {
    const s = createScheduler('dpmpp_2m', { ...sd15Config, lambda_min_clipped: '-Infinity' });
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([999, 749, 500, 250]);
    // λ = −log σ falls below −2.5 where σ > e^2.5 ≈ 12.2: the highest timesteps are cut off.
    const clipped = createScheduler('dpmpp_2m', { ...sd15Config, lambda_min_clipped: -2.5 });
    clipped.setTimesteps(4);
    expect(clipped.timesteps[0]).toBeLessThan(999);
    expect((clipped.sigmas as Float32Array)[0]).toBeLessThan(Math.exp(2.5));
  });

  it('builds squaredcos_cap_v2 betas (Glide cosine, capped at 0.999)', () => {
    const betas = betasFor({ beta_schedule: 'squaredcos_cap_v2' });
    const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    expect(betas[0]).toBeCloseTo(1 - alphaBar(0.001) / alphaBar(0), 9);
    expect(betas[999]).toBeCloseTo(0.999, 6);
  });

  it('rescales betas to zero terminal SNR', () => {
    const ac = alphasCumprod({ ...sd15Config, rescale_betas_zero_snr: true });
    expect(ac[999]).toBeLessThan(1e-9);
    // Euler and DPM floor ᾱ at 2⁻²⁴, so σ_max = √(2²⁴ − 1) ≈ 4096.
    const s = createScheduler('euler', {
      ...sd15Config,
      rescale_betas_zero_snr: true,
      timestep_spacing: 'trailing',
    });
    s.setTimesteps(4);
    expect((s.sigmas as Float32Array)[0]).toBeCloseTo(4096, 0);
  });

  it('requires trained_betas to match num_train_timesteps', () => {
    expect(() => createScheduler('ddim', { trained_betas: [0.1, 0.2] })).toThrow(/trained_betas/);
    const s = createScheduler('ddim', {
      trained_betas: Array.from({ length: 10 }, () => 0.1),
      num_train_timesteps: 10,
    });
    s.setTimesteps(2);
    expect(Array.from(s.timesteps)).toEqual([5, 0]);
  });
});

describe('lcmGuidanceEmbedding', () => {
  it('embeds (w − 1)·1000 as sin ‖ cos over log-spaced frequencies', () => {
    const emb = lcmGuidanceEmbedding(8.5, 256);
    expect(emb).toHaveLength(256);
    // Frequency 1 at index 0, 1/10000 at index 127: angles 7500 and 0.75.
    expect(emb[0]).toBeCloseTo(Math.sin(7500), 6);
    expect(emb[128]).toBeCloseTo(Math.cos(7500), 6);
    expect(emb[127]).toBeCloseTo(Math.sin(0.75), 6);
    expect(emb[255]).toBeCloseTo(Math.cos(0.75), 6);
    for (let i = 0; i < 128; i++) expect(emb[i] ** 2 + emb[128 + i] ** 2).toBeCloseTo(1, 5);
  });

  it('is sin 0 ‖ cos 0 for guidance 1 and zero-pads odd sizes', () => {
    const emb = lcmGuidanceEmbedding(1, 9);
    expect(Array.from(emb)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 0]);
  });

  it('rejects sizes whose frequency spacing divides by zero', () => {
    expect(() => lcmGuidanceEmbedding(2, 3)).toThrow(RangeError);
  });
});
