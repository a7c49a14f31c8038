import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { JobEvent } from '../../src/jobs';
import { resolveRequest } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { writeSlowModel } from '../helpers/slow-model';

// One U-Net step of ~30 s against a 5 s job lock, with a second worker
// waiting: the lock must be renewed all along (inference runs off the worker's
// main thread), so the job runs exactly once and the heartbeat never lapses.
const bin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-long-step-'));
const prefix = testPrefix('long-step');
const children: ChildProcess[] = [];
let driver: QueueDriver;
let modelDir: string;

function startWorker(): ChildProcess {
  const child = spawn(process.execPath, [bin, 'worker', '--model', modelDir], {
    env: {
      ...process.env,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      DATA_DIR: path.join(tmp, 'data'),
      ORT_INTRA_OP_THREADS: '1',
      JOB_LOCK_MS: '5000',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

beforeAll(async () => {
  modelDir = path.join(tmp, 'models', 'very-slow');
  await writeSlowModel(modelDir, path.join(tmp, 'data'), 30_000);
  driver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir: path.join(tmp, 'data') });
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await driver?.close();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('a 30 s step with a 5 s lock is not processed twice', async () => {
  const [a, b] = [startWorker(), startWorker()];
  const waitFor = async (pred: () => Promise<boolean>, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await pred())) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await waitFor(async () => (await driver.workers.list()).length === 2, 30_000);
  const request = resolveRequest(
    {
      prompt: 'one long step',
      steps: 1,
      width: 64,
      height: 64,
      guidance_scale: 1,
      scheduler: 'euler',
      seed: 3,
    },
    { size: 64, scheduler: 'euler' },
  );
  const events: JobEvent[] = [];
  const id = randomUUID();
  const stop = await driver.events.subscribe(id, (e) => e.type !== 'preview' && events.push(e));
  const job = await driver.queue.enqueue({ id, model: 'very-slow', request });

  // Midway through the step — once the job's lock has been renewed four times (two lock durations)
  // and BullMQ's stalled check has run twice, which is what would have handed the job to the
  // other worker — both workers still announce themselves, and the job is on its first attempt.
  await waitFor(async () => events.some((e) => e.type === 'started'), 10_000);
  const redis = new Redis(REDIS_URL);
  try {
    const queueKey = `${prefix}:jobs-very-slow`;
    const seen = { renewals: 0, checks: 0, lockTtl: -2, checkTtl: -2 };
    await waitFor(async () => {
      const [lockTtl, checkTtl] = await Promise.all([
        redis.pttl(`${queueKey}:${job.id}:lock`),
        redis.pttl(`${queueKey}:stalled-check`),
      ]);
      // A renewal or a new check sets its key's time to live afresh: it goes up.
      if (lockTtl > seen.lockTtl && seen.lockTtl !== -2) seen.renewals += 1;
      if (checkTtl > seen.checkTtl) seen.checks += 1;
      Object.assign(seen, { lockTtl, checkTtl });
      return seen.renewals >= 4 && seen.checks >= 3;
    }, 40_000);
  } finally {
    redis.disconnect();
  }
  const midway = await driver.queue.get(job.id);
  expect(midway).toMatchObject({ status: 'running', attempts: 1 });
  expect((await driver.workers.list()).map((w) => w.pid).sort()).toEqual([a.pid, b.pid].sort());

  await waitFor(async () => (await driver.queue.get(job.id))?.status === 'succeeded', 60_000);
  await stop();
  const done = await driver.queue.get(job.id);
  expect(done?.attempts).toBe(1);
  // The step really outlasted the lock several times over.
  expect(done?.result?.timings.denoise_ms).toBeGreaterThan(15_000);
  expect(events.filter((e) => e.type === 'started')).toHaveLength(1);
  expect(events.filter((e) => e.type === 'succeeded')).toHaveLength(1);
}, 120_000);
