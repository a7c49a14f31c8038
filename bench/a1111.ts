/**
 * What the AUTOMATIC1111 adapter costs over giraffe's own API, end to end:
 * the same small generation (demo model, 64×64, 4 steps) asked for as
 * `POST /sdapi/v1/txt2img` (one blocking call, base64 PNG in JSON) and as
 * `POST /v1/generate?wait=true` followed by `GET /v1/jobs/:id/images/0` (what
 * a native client that wants the bytes does), interleaved in one run on one
 * embedded service (memory driver, a real worker) over loopback HTTP.
 * Medians, and their ratio; the machine is shared, so compare the ratio.
 *
 *   npm run build && node --import tsx bench/a1111.ts [-- --runs 30 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { buildApp } from '../dist/api';
import { loadConfig } from '../dist/config';
import { ensureDemoModel } from '../dist/pipeline';
import { createQueueDriver } from '../dist/queue';
import { WorkerService } from '../dist/worker';
import { writeBenchResult } from './lib/bench-results';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '30' }, json: { type: 'string' } },
});
const RUNS = Number(values.runs);
const fields = { prompt: 'a giraffe eating a building', steps: 4, width: 64, height: 64, seed: 1 };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-a1111-'));
  const config = loadConfig({
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'silent',
  });
  const demo = await ensureDemoModel(config.DATA_DIR);
  const driver = createQueueDriver({ dataDir: config.DATA_DIR, prefix: config.REDIS_PREFIX });
  const logger = pino({ level: 'silent' });
  const app = await buildApp({ config, driver, logger, extraModels: { demo } });
  const worker = await WorkerService.start({ driver, models: [{ id: 'demo', dir: demo }], logger });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const json = { 'content-type': 'application/json' };

  const a1111 = async (): Promise<void> => {
    const res = await fetch(`${base}/sdapi/v1/txt2img`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ ...fields, cfg_scale: 7.5, sampler_name: 'Euler' }),
    });
    const body = (await res.json()) as { images: string[] };
    if (res.status !== 200 || Buffer.from(body.images[0], 'base64').length === 0)
      throw new Error('a1111 call failed');
  };
  const native = async (): Promise<void> => {
    const res = await fetch(`${base}/v1/generate?wait=true`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(fields),
    });
    const job = (await res.json()) as { id: string; status: string };
    if (job.status !== 'succeeded') throw new Error(`native job ${job.status}`);
    const image = await fetch(`${base}/v1/jobs/${job.id}/images/0`);
    if (image.status !== 200 || (await image.arrayBuffer()).byteLength === 0)
      throw new Error('image fetch failed');
  };

  // Warm both paths (module compilation, sessions, codecs) before timing.
  for (let i = 0; i < 3; i++) {
    await a1111();
    await native();
  }
  const times = { a1111: [] as number[], native: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    for (const [name, run] of [
      ['a1111', a1111],
      ['native', native],
    ] as const) {
      const start = performance.now();
      await run();
      times[name].push(performance.now() - start);
    }
  }
  const a = median(times.a1111);
  const n = median(times.native);
  console.log(`runs: ${RUNS} each, interleaved; demo model, 64x64, 4 steps, loopback HTTP`);
  console.log(`POST /sdapi/v1/txt2img (blocking, base64 PNG):        median ${a.toFixed(1)} ms`);
  console.log(`POST /v1/generate?wait=true + GET image (native):     median ${n.toFixed(1)} ms`);
  console.log(`ratio a1111 / native: ${(a / n).toFixed(3)}`);
  writeBenchResult(values.json, {
    bench: 'a1111',
    title: `the AUTOMATIC1111 adapter end to end against giraffe's own API, ${RUNS} interleaved runs each (demo model, 64×64, 4 steps)`,
    figures: [
      {
        name: 'POST /sdapi/v1/txt2img (blocking, base64 PNG), median',
        value: +a.toFixed(1),
        unit: 'ms',
        baseline: { name: 'POST /v1/generate?wait=true + GET the image', value: +n.toFixed(1), unit: 'ms' },
      },
    ],
  });

  await app.close();
  await worker.stop(0);
  await driver.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  endProcess(1);
});
