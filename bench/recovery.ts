/**
 * Issue 16's figures for checkpoints and recovery:
 *  1. what a checkpoint costs per save at Stable Diffusion 1.5's latent size
 *     (1×4×64×64, a 512×512 image): bytes, encode ms, Redis SET ms, decode ms,
 *     per scheduler (PNDM and DPM++ keep history);
 *  2. how long a job is gone after its worker is SIGKILLed: from the kill to
 *     its next step on another, idle worker (two real `giraffe worker`
 *     processes on Redis, default JOB_LOCK_MS), and from which step it resumed.
 *
 *   npm run build && node --import tsx bench/recovery.ts [-- --kills 3 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import type { JobEvent } from '../dist/jobs';
import { decodeCheckpoint, encodeCheckpoint, NumpyRandomState, resolveRequest } from '../dist/pipeline';
import { createScheduler, schedulerNames } from '../dist/pipeline/schedulers';
import { createQueueDriver } from '../dist/queue';
import { writeSlowModel } from '../test/helpers/slow-model';
import { deleteKeys, REDIS_URL } from './lib/bench-redis';
import { atMost, writeBenchResult, type BenchFigure } from './lib/bench-results';
import { startGiraffe, waitForLog, type GiraffeProcess } from './lib/processes';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: { kills: { type: 'string', default: '3' }, json: { type: 'string' } },
});

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
const figures: BenchFigure[] = [];
const notes: string[] = [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function checkpointCost(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const key = `{giraffe-bench-${randomBytes(4).toString('hex')}}:checkpoint`;
  const length = 4 * 64 * 64;
  const rng = new NumpyRandomState(1);
  console.log('checkpoint cost per save at 1×4×64×64 (median of 30):');
  for (const name of schedulerNames) {
    const scheduler = createScheduler(name, sd15);
    scheduler.setTimesteps(20);
    let latents = rng.randnFloat32(length);
    // Six steps in: PNDM holds four ε, DPM++ its previous x₀.
    for (let i = 0; i < 6; i++) {
      const t = scheduler.timesteps[i];
      const noise = scheduler.isStochastic ? { noise: rng.randnFloat32(length) } : undefined;
      latents = scheduler.step(
        rng.randnFloat32(length),
        t,
        scheduler.scaleModelInput(latents, t),
        noise,
      ).prevSample;
    }
    const encodeMs: number[] = [];
    const saveMs: number[] = [];
    const decodeMs: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 30; i++) {
      let t0 = performance.now();
      const data = encodeCheckpoint({
        key: 'bench',
        step: 6,
        steps: 20,
        latents: latents.slice(),
        scheduler: scheduler.saveState(),
        rng: rng.saveState(),
      });
      encodeMs.push(performance.now() - t0);
      bytes = data.length;
      t0 = performance.now();
      await redis.set(key, data, 'PX', 60_000);
      saveMs.push(performance.now() - t0);
      t0 = performance.now();
      decodeCheckpoint((await redis.getBuffer(key))!);
      decodeMs.push(performance.now() - t0);
    }
    console.log(
      `  ${name.padEnd(9)} ${(bytes / 1024).toFixed(0).padStart(5)} KiB  take+encode ${median(encodeMs).toFixed(2)} ms` +
        `  redis SET ${median(saveMs).toFixed(2)} ms  GET+decode ${median(decodeMs).toFixed(2)} ms`,
    );
    figures.push(
      { name: `checkpoint size (${name})`, value: Math.round(bytes / 1024), unit: 'KiB' },
      {
        name: `checkpoint take+encode+SET (${name})`,
        value: +(median(encodeMs) + median(saveMs)).toFixed(2),
        unit: 'ms',
      },
    );
  }
  await redis.del(key);
  redis.disconnect();
}

async function recovery(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-recovery-'));
  const prefix = `{giraffe-bench-recovery-${randomBytes(4).toString('hex')}}`;
  const slowDir = path.join(tmp, 'models', 'slow');
  await writeSlowModel(slowDir, path.join(tmp, 'data'), 400, 0.5);
  const env = {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    ORT_INTRA_OP_THREADS: '1',
    LOG_LEVEL: 'info',
  };
  const driver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir: path.join(tmp, 'data') });
  const workers = new Map<string, GiraffeProcess>();
  const launch = async (): Promise<void> => {
    const w = startGiraffe(['worker', '--model', slowDir], env);
    workers.set(await waitForLog(w, /"worker":"([^"]+)"[^\n]*"msg":"worker ready"/), w);
  };
  const gaps: number[] = [];
  try {
    await Promise.all([launch(), launch()]);
    for (let k = 0; k < Number(values.kills); k++) {
      const id = randomUUID();
      const events: JobEvent[] = [];
      const stop = await driver.events.subscribe(id, (e) => e.type !== 'preview' && events.push(e));
      const request = resolveRequest(
        { prompt: `recovery ${k}`, width: 64, height: 64, steps: 60, seed: k, scheduler: 'pndm' },
        { size: 64, scheduler: 'pndm' },
      );
      await driver.queue.enqueue({ id, model: 'slow', request });
      // Kill mid-run, once a checkpoint is a few steps in.
      for (;;) {
        const data = await driver.checkpoints.load(id);
        if (data && decodeCheckpoint(data).step >= 5) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const record = await driver.queue.get(id);
      const victim = workers.get(record!.worker!)!;
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await victim.exited;
      workers.delete(record!.worker!);
      let resumed: JobEvent | undefined;
      while (!(resumed = events.find((e) => e.type === 'progress' && e.resumed_from_step !== undefined))) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const gap = Date.parse(resumed.at) - killedAt;
      gaps.push(gap);
      const from = resumed.type === 'progress' ? resumed.resumed_from_step : undefined;
      console.log(`  kill ${k + 1}: next step ${gap} ms after the SIGKILL, resumed from step ${from}`);
      notes.push(`kill ${k + 1}: resumed from step ${from} after ${gap} ms`);
      while (!events.some((e) => e.type === 'succeeded' || e.type === 'failed')) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await stop();
      await launch();
    }
  } finally {
    await Promise.all([...workers.values()].map((w) => w.stop(2000)));
    await driver.close();
    await deleteKeys(prefix);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const worst = Math.max(...gaps);
  console.log(`recovery after SIGKILL (JOB_LOCK_MS default): worst ${worst} ms, median ${median(gaps)} ms`);
  figures.push({
    name: 'SIGKILL → steps again on another worker (worst)',
    value: worst,
    unit: 'ms',
    ...atMost(worst, 15_000, '≤ 15 s'),
  });
}

async function main(): Promise<void> {
  await checkpointCost();
  console.log('recovery after a SIGKILL mid-job (two workers, 400 ms steps):');
  await recovery();
  writeBenchResult(values.json, {
    bench: 'recovery',
    title:
      'checkpoint cost per save (SD 1.5 latent size) and time from a worker SIGKILL to the job stepping again elsewhere',
    figures,
    notes,
  });
}

void main().then(
  () => endProcess(0),
  (err: unknown) => {
    console.error(err);
    endProcess(1);
  },
);
