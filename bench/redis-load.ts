/**
 * What users feel of the queue, through the distributed service (`giraffe
 * serve` + one `giraffe worker` on Redis, the demo model at 64², one step):
 * POST /v1/generate latency p50/p99 while `--inflight` clients submit at
 * once, enqueue→start p50/p99 (the records' created_at → started_at), and
 * Redis commands per job (INFO commandstats over the whole run: API, worker
 * and BullMQ together).
 *
 *   npm run build && node --import tsx bench/redis-load.ts [--jobs 1000 --inflight 32 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { deleteKeys, REDIS_URL } from './lib/bench-redis';
import { writeBenchResult, type BenchFigure } from './lib/bench-results';
import { startGiraffe, waitForLog } from './lib/processes';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    inflight: { type: 'string', default: '32' },
    json: { type: 'string' },
  },
});
const JOBS = Number(values.jobs);
const INFLIGHT = Number(values.inflight);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Total calls per command name from INFO commandstats. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1], Number(m[2]));
  return calls;
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-redis-'));
  const prefix = `{giraffe-bench-load-${randomBytes(4).toString('hex')}}`;
  const env = {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'info',
    MAX_QUEUE_DEPTH: '1000000',
    RATE_LIMIT_MAX: '1000000',
    // One client submits every job: the per-key job limit would refuse most of them.
    MAX_JOBS_PER_KEY: '1000000',
    PORT: '0',
    HOST: '127.0.0.1',
  };
  const redis = new Redis(REDIS_URL);
  const worker = startGiraffe(['worker', '--model', 'demo'], env);
  const serve = startGiraffe(['serve'], env);
  try {
    await waitForLog(worker, /"msg":"worker ready"/);
    const base = await waitForLog(serve, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
    const submit = async (i: number): Promise<{ id: string; ms: number }> => {
      const t0 = performance.now();
      const res = await fetch(`${base}/v1/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `load ${i}`, steps: 1, width: 64, height: 64, seed: i }),
      });
      const ms = performance.now() - t0;
      if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
      return { id: ((await res.json()) as { id: string }).id, ms };
    };
    // Every job that ends is named on the `ended` channel: waiting on it adds no command per job.
    const ended = new Set<string>();
    let onEnded = (): void => undefined;
    const listener = new Redis(REDIS_URL);
    await listener.subscribe(`${prefix}:ended`);
    listener.on('message', (_channel: string, id: string) => {
      ended.add(id);
      onEnded();
    });
    const untilEnded = (ids: readonly string[]): Promise<void> =>
      new Promise((resolve) => {
        onEnded = () => ids.every((id) => ended.has(id)) && resolve();
        onEnded();
      });
    await untilEnded([(await submit(JOBS)).id]); // warm-up

    // 1. A flood: API latency under load and Redis commands per job (API, worker and BullMQ).
    const before = await commandCalls(redis);
    const started = performance.now();
    const posts: number[] = [];
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: INFLIGHT }, async () => {
        while (next < JOBS) {
          const r = await submit(next++);
          posts.push(r.ms);
          ids.push(r.id);
        }
      }),
    );
    await untilEnded(ids);
    const seconds = (performance.now() - started) / 1000;
    const after = await commandCalls(redis);
    let commands = 0;
    for (const [name, calls] of after) if (name !== 'info') commands += calls - (before.get(name) ?? 0);
    const perJob = commands / JOBS;

    // 2. One job at a time: enqueue → start is the pick-up latency alone, no queue ahead of it.
    const pickups: number[] = [];
    for (let i = 0; i < Math.min(200, JOBS); i++) {
      const { id } = await submit(JOBS + 1 + i);
      await untilEnded([id]);
      const job = (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as {
        created_at: string;
        started_at: string;
      };
      pickups.push(Date.parse(job.started_at) - Date.parse(job.created_at));
    }
    listener.disconnect();

    const figures: BenchFigure[] = [
      {
        name: `POST /v1/generate p50 (${INFLIGHT} clients)`,
        value: +percentile(posts, 50).toFixed(2),
        unit: 'ms',
      },
      {
        name: `POST /v1/generate p99 (${INFLIGHT} clients)`,
        value: +percentile(posts, 99).toFixed(2),
        unit: 'ms',
      },
      { name: 'Redis commands per job', value: +perJob.toFixed(1), unit: 'commands' },
      { name: 'enqueue → start p50 (idle worker)', value: percentile(pickups, 50), unit: 'ms' },
      { name: 'enqueue → start p99 (idle worker)', value: percentile(pickups, 99), unit: 'ms' },
    ];
    console.log(
      `${JOBS} jobs in ${seconds.toFixed(1)} s, then ${pickups.length} one at a time: ` +
        figures.map((f) => `${f.name} ${f.value} ${f.unit}`).join('; '),
    );
    writeBenchResult(values.json, {
      bench: 'redis-load',
      title: `the queue as users feel it: giraffe serve + 1 worker on Redis, ${JOBS} one-step 64² jobs, ${INFLIGHT} clients submitting`,
      figures,
    });
  } finally {
    await Promise.all([serve.stop(5000), worker.stop(5000)]);
    redis.disconnect();
    await deleteKeys(prefix);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

void main().then(
  () => endProcess(0),
  (err: unknown) => {
    console.error(err);
    endProcess(1);
  },
);
