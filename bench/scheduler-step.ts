/**
 * Scheduler arithmetic per denoising step: mean milliseconds of
 * `scaleModelInput` + `step` on a 1×4×64×64 latent (a 512×512 image), for
 * every scheduler and its Karras variant where it has one. The model output
 * and the noise are fixed random arrays, made before the clock starts; each
 * scheduler runs once to warm up, then is timed over `--steps` steps.
 *
 *   npx tsc -p tsconfig.json && node --import tsx bench/scheduler-step.ts [-- --steps 50 --runs 3]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
// The compiled package: measure what ships, not a transpile-on-load copy.
import { createScheduler, schedulerNames, type SchedulerName } from '../dist/pipeline/schedulers';
import { writeBenchResult, type BenchFigure } from './lib/bench-results';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const steps = Number(values.steps);
const runs = Number(values.runs);

/** Stable Diffusion 1.5's scheduler config. */
const sd15 = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  steps_offset: 1,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  clip_sample: false,
};

const length = 1 * 4 * 64 * 64;

/** Seeded standard normals (mulberry32 + Box–Muller). */
function gaussian(seed: number, n: number): Float32Array {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

const initial = gaussian(1, length);
const modelOutput = gaussian(2, length);
const noise = gaussian(3, length);

/** Total milliseconds of scaleModelInput + step over one full run of `steps` steps. */
function run(name: SchedulerName, karras: boolean): { ms: number; calls: number } {
  // LCM's schedule is picked from 50 distillation steps, so it can run at most that many.
  const count = name === 'lcm' ? Math.min(steps, 50) : steps;
  const scheduler = createScheduler(name, sd15, karras ? { karras } : {});
  scheduler.setTimesteps(count);
  const timesteps = scheduler.timesteps;
  let latents: Float32Array = initial.map((x) => x * scheduler.initNoiseSigma);
  const options = scheduler.isStochastic ? { noise } : undefined;
  let ms = 0;
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    const start = performance.now();
    scheduler.scaleModelInput(latents, t);
    latents = scheduler.step(modelOutput, t, latents, options).prevSample;
    ms += performance.now() - start;
  }
  return { ms, calls: timesteps.length };
}

const variants: { name: SchedulerName; karras: boolean }[] = [];
for (const name of schedulerNames) {
  variants.push({ name, karras: false });
  if (name === 'euler' || name === 'euler_a' || name === 'dpmpp_2m') variants.push({ name, karras: true });
}

const title = `scaleModelInput + step on 1×4×64×64 (${length} floats), ${steps} steps, best of ${runs} runs`;
console.log(title);
const figures: BenchFigure[] = [];
for (const { name, karras } of variants) {
  run(name, karras); // warm-up
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const { ms, calls } = run(name, karras);
    best = Math.min(best, ms / calls);
  }
  const label = karras ? `${name} (karras)` : name;
  console.log(`${label.padEnd(20)} ${best.toFixed(3).padStart(8)} ms/step`);
  figures.push({ name: label, value: best, unit: 'ms/step' });
}
writeBenchResult(values.json, { bench: 'scheduler-step', title, figures });
