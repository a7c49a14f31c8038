import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { JobEvent } from '../../src/jobs';
import { ensureDemoModel, resolveRequest } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import {
  killAll,
  privateRedis,
  readyWorkerId,
  startGiraffe,
  until,
  type PrivateRedis,
} from '../helpers/processes';

// Issue 17, item 2: a worker whose Redis stops answering for 60 s in the middle of a long job
// keeps stepping; whatever waits for Redis meanwhile (progress, previews) must be bounded. Four
// 1024² images make 2 MiB of latents and predicted x₀ per step, so holding each step's until
// Redis answers would grow the worker by hundreds of MB over the job's 150 steps. A real
// `giraffe worker` process, a real redis-server frozen with SIGSTOP (connections stay open).
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-redis-pause-'));
const PAUSE_MS = 60_000;
let redis: PrivateRedis;
let driver: QueueDriver;

function rss(pid: number): number {
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) * 1024;
}

beforeAll(async () => {
  redis = await privateRedis(path.join(tmp, 'redis'));
  await redis.start();
  driver = createQueueDriver({
    redisUrl: redis.url,
    prefix: '{giraffe-pause}',
    dataDir: path.join(tmp, 'data'),
  });
}, 60_000);

afterAll(async () => {
  redis?.resume();
  await killAll();
  await driver?.close();
  await redis?.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('a worker stays within +100 MB while Redis is frozen for 60 s mid-job, and the job succeeds after', async () => {
  const demo = await ensureDemoModel(path.join(tmp, 'data'));
  const worker = startGiraffe(['worker', '--model', demo], {
    REDIS_URL: redis.url,
    REDIS_PREFIX: '{giraffe-pause}',
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'info',
  });
  await readyWorkerId(worker);
  const pid = worker.process.pid!;
  let n = 0;
  const submit = async (): Promise<{ id: string; events: JobEvent[] }> => {
    const id = randomUUID();
    const events: JobEvent[] = [];
    await driver.events.subscribe(id, (e) => e.type !== 'preview' && events.push(e));
    const request = resolveRequest(
      {
        prompt: 'a long job',
        width: 1024,
        height: 1024,
        num_images: 4,
        steps: 150,
        seed: n++,
        scheduler: 'euler',
      },
      { size: 1024, scheduler: 'euler' },
    );
    await driver.queue.enqueue({ id, model: 'demo', request });
    await until('the job to step', () => events.some((e) => e.type === 'progress'), 60_000);
    return { id, events };
  };
  const ended = (id: string) =>
    until(
      'the job to end',
      async () => {
        const r = await driver.queue.get(id);
        return r && ['succeeded', 'failed', 'canceled'].includes(r.status) && r;
      },
      180_000,
    );
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 100);
  try {
    // The same job with Redis answering: what the job itself needs at its peak (decoding, encoding).
    const calm = await submit();
    expect((await ended(calm.id)).status).toBe('succeeded');
    const calmPeak = peak;

    const frozen = await submit();
    redis.pause();
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    redis.resume();
    const record = await ended(frozen.id);
    console.info(
      `worker RSS peak ${Math.round(calmPeak / 2 ** 20)} MB with Redis answering, ` +
        `${Math.round(peak / 2 ** 20)} MB with it frozen for ${PAUSE_MS / 1000} s mid-job`,
    );
    expect(peak - calmPeak).toBeLessThan(100 * 2 ** 20);
    expect(record.status).toBe('succeeded');
    expect(record.result?.images).toHaveLength(4);
    expect(worker.alive()).toBe(true);
  } finally {
    clearInterval(sampler);
  }
}, 300_000);
