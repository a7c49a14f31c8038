import { isGiraffeError } from '../../../src/errors';
import {
  alphasCumprod,
  createScheduler,
  schedulerNames,
  type Scheduler,
  type SchedulerName,
} from '../../../src/pipeline/schedulers';
import { gaussian, maxRelError, sd15Config } from './fixtures';

/**
 * The contract every scheduler keeps, run on all six (diffusers'
 * tests/schedulers/test_schedulers.py does the same for its classes).
 */

const T = 1000;
// set_alpha_to_one makes DDIM and PNDM end exactly on x₀ instead of √ᾱ₀·x₀ + √(1−ᾱ₀)·ε.
const config = { ...sd15Config, set_alpha_to_one: true };
const alphaBar = alphasCumprod(config);
const size = 64;

/** ε that makes a scheduler's x₀ prediction exactly `x0` at step `index` (float64, then float32). */
type PerfectModel = (
  s: Scheduler,
  index: number,
  t: number,
  x: Float32Array,
  x0: Float32Array,
) => Float32Array;

/** Sigma schedulers: x = x₀ + σ·ε. */
const sigmaSpace: PerfectModel = (s, index, _t, x, x0) => {
  const sigma = (s.sigmas as Float32Array)[index];
  return x.map((v, i) => (v - x0[i]) / sigma);
};

/** ᾱ schedulers: x = √ᾱ·x₀ + √(1−ᾱ)·ε, ᾱ read at the timestep. */
const alphaSpace: PerfectModel = (_s, _index, t, x, x0) => {
  const a = alphaBar[t];
  return x.map((v, i) => (v - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a));
};

/** DPM-Solver: x = α·x₀ + σ_t·ε with α = 1/√(σ²+1), σ_t = σ·α, σ from the scheduler's own sigmas. */
const dpmSpace: PerfectModel = (s, index, _t, x, x0) => {
  const sigma = (s.sigmas as Float32Array)[index];
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return x.map((v, i) => (v - alpha * x0[i]) / (sigma * alpha));
};

interface Row {
  name: SchedulerName;
  perfect: PerfectModel;
  karras: boolean;
  /** Timesteps for N steps. */
  count: (n: number) => number;
  integerTimesteps: boolean;
}

const rows: Row[] = [
  { name: 'euler', perfect: sigmaSpace, karras: true, count: (n) => n, integerTimesteps: false },
  { name: 'euler_a', perfect: sigmaSpace, karras: true, count: (n) => n, integerTimesteps: false },
  { name: 'ddim', perfect: alphaSpace, karras: false, count: (n) => n, integerTimesteps: true },
  // PLMS repeats its second timestep (a single step has nothing to repeat).
  {
    name: 'pndm',
    perfect: alphaSpace,
    karras: false,
    count: (n) => (n === 1 ? 1 : n + 1),
    integerTimesteps: true,
  },
  { name: 'dpmpp_2m', perfect: dpmSpace, karras: true, count: (n) => n, integerTimesteps: true },
  { name: 'lcm', perfect: alphaSpace, karras: false, count: (n) => n, integerTimesteps: true },
];

/** Runs a whole schedule with the goldens' fake model; stochastic schedulers get seeded noise. */
function runAll(s: Scheduler, seed: number, stopAfter = Infinity): Float32Array {
  const noise = gaussian(seed);
  let latents: Float32Array = noise(size).map((v) => v * s.initNoiseSigma);
  s.timesteps.forEach((t, i) => {
    if (i >= stopAfter) return;
    const input = s.scaleModelInput(latents, t);
    const eps = input.map((v) => 0.5 * v + 0.1 * Math.cos(t / 100));
    latents = s.step(eps, t, latents, { noise: noise(size) }).prevSample;
  });
  return latents;
}

it('every row covers one scheduler name', () => {
  expect(rows.map((r) => r.name)).toEqual([...schedulerNames]);
});

describe.each(rows)('$name scheduler', (row) => {
  const create = (): Scheduler => createScheduler(row.name, config);

  it.each([1, 2, 4, 10, 25, 50])('sets exactly the right number of timesteps for %i steps', (n) => {
    const s = create();
    s.setTimesteps(n);
    const ts = Array.from(s.timesteps);
    expect(ts).toHaveLength(row.count(n));
    for (const t of ts) {
      expect(t).toBeGreaterThanOrEqual(0);
      expect(t).toBeLessThanOrEqual(T - 1);
      if (row.integerTimesteps) expect(Number.isInteger(t)).toBe(true);
    }
    const distinct = row.name === 'pndm' && n > 1 ? [ts[0], ...ts.slice(2)] : ts;
    for (let i = 1; i < distinct.length; i++) expect(distinct[i]).toBeLessThan(distinct[i - 1]);
    if (s.sigmas !== undefined) {
      expect(s.sigmas).toHaveLength(n + 1);
      expect(s.sigmas[n]).toBe(0);
      for (let i = 1; i <= n; i++) expect(s.sigmas[i]).toBeLessThan(s.sigmas[i - 1]);
    }
  });

  it('returns a fresh, independent scheduler from every call', () => {
    const a = create();
    const b = create();
    expect(a).not.toBe(b);
    a.setTimesteps(10);
    b.setTimesteps(10);
    runAll(a, 1, 3); // leave a mid-run: PNDM and DPM hold history, the sigma schedulers a step index
    const fromB = runAll(b, 7);
    const fresh = create();
    fresh.setTimesteps(10);
    expect(runAll(fresh, 7)).toEqual(fromB);
    // setTimesteps starts a new run on a used scheduler too.
    a.setTimesteps(10);
    expect(runAll(a, 7)).toEqual(fromB);
  });

  it.each([10, 25])('drives latents to x₀ with a perfect model (%i steps)', (n) => {
    const s = create();
    s.setTimesteps(n);
    const noise = gaussian(3);
    const x0 = noise(size).map((v) => 0.8 * v);
    let latents: Float32Array = noise(size).map((v) => v * s.initNoiseSigma);
    s.timesteps.forEach((t, i) => {
      s.scaleModelInput(latents, t);
      const out = s.step(row.perfect(s, i, t, latents, x0), t, latents, { noise: noise(size) });
      expect(maxRelError(out.predOriginalSample, x0)).toBeLessThan(1e-4);
      latents = out.prevSample;
    });
    expect(maxRelError(latents, x0)).toBeLessThan(1e-4);
  });

  it('never modifies its inputs', () => {
    const s = create();
    s.setTimesteps(4);
    const latents = gaussian(5)(size);
    const eps = gaussian(6)(size);
    const noise = gaussian(8)(size);
    const [latentsCopy, epsCopy, noiseCopy] = [latents.slice(), eps.slice(), noise.slice()];
    const t = s.timesteps[0];
    s.step(eps, t, s.scaleModelInput(latents, t), { noise });
    expect(latents).toEqual(latentsCopy);
    expect(eps).toEqual(epsCopy);
    expect(noise).toEqual(noiseCopy);
  });

  it('rejects stepping before setTimesteps and mismatched sizes', () => {
    const s = create();
    expect(s.timesteps).toHaveLength(0);
    expect(() =>
      s.step(new Float32Array(size), 999, new Float32Array(size), { noise: new Float32Array(size) }),
    ).toThrow(/setTimesteps/);
    s.setTimesteps(4);
    const t = s.timesteps[0];
    expect(() => s.step(new Float32Array(size - 1), t, new Float32Array(size))).toThrow(/values/);
  });

  if (row.name === 'euler_a' || row.name === 'lcm') {
    it('is stochastic and demands noise', () => {
      const s = create();
      expect(s.isStochastic).toBe(true);
      s.setTimesteps(4);
      const t = s.timesteps[0];
      const x = new Float32Array(size);
      expect(() => s.step(x, t, x)).toThrow(/noise/);
      expect(() => s.step(x, t, x, { noise: new Float32Array(3) })).toThrow(/noise/);
    });
  } else {
    it('is deterministic and needs no noise', () => {
      const s = create();
      expect(s.isStochastic).toBe(false);
      s.setTimesteps(4);
      const t = s.timesteps[0];
      const x = Float32Array.from({ length: size }, (_, i) => i / size);
      expect(() => s.step(x, t, x)).not.toThrow();
    });
  }

  if (row.karras) {
    it('offers Karras sigmas', () => {
      const karras = createScheduler(row.name, { ...config, timestep_spacing: 'linspace' }, { karras: true });
      karras.setTimesteps(10);
      const sigmas = Array.from(karras.sigmas as Float32Array).slice(0, 10);
      // Evenly spaced in σ^(1/7) from σ_max to σ_min (14.6146 and 0.0292 for SD 1.5).
      expect(sigmas[0]).toBeCloseTo(14.6146, 3);
      expect(sigmas[9]).toBeCloseTo(0.0292, 3);
      const roots = sigmas.map((v) => v ** (1 / 7));
      for (let i = 2; i < 10; i++) expect(roots[i] - roots[i - 1]).toBeCloseTo(roots[1] - roots[0], 5);
    });
  } else {
    it('rejects Karras sigmas', () => {
      let error: unknown;
      try {
        createScheduler(row.name, config, { karras: true });
      } catch (e) {
        error = e;
      }
      expect(isGiraffeError(error, 'GIRAFFE_ERR_REQUEST_INVALID')).toBe(true);
      expect((error as Error).message).toMatch(/Karras.*euler, euler_a, dpmpp_2m/);
      expect(() => createScheduler(row.name, config, { karras: false })).not.toThrow();
    });
  }
});

describe('createScheduler', () => {
  it('rejects an unknown name and lists the valid ones', () => {
    let error: unknown;
    try {
      createScheduler('heun', config);
    } catch (e) {
      error = e;
    }
    expect(isGiraffeError(error, 'GIRAFFE_ERR_REQUEST_INVALID')).toBe(true);
    expect((error as Error).message).toContain('"heun"');
    for (const name of schedulerNames) expect((error as Error).message).toContain(name);
  });
});
