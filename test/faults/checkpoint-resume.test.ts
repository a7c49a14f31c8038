import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { JobEvent } from '../../src/jobs';
import { decodeCheckpoint, resolveRequest, StableDiffusionPipeline } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { killAll, readyWorkerId, startGiraffe, until, type Child } from '../helpers/processes';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { writeSlowModel } from '../helpers/slow-model';

// Issue 16: a job whose worker is SIGKILLed, or stopped with SIGTERM, resumes on another worker
// from the checkpoint it left, at a step past the first, and ends with the PNG bytes of an
// uninterrupted run: real `giraffe worker` processes on a real Redis.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-resume-'));
const prefix = testPrefix('resume');
const SIZE = 64;
const STEPS = 12;
let driver: QueueDriver;
let slowDir: string;
let reference: StableDiffusionPipeline;

function startWorker(env: Record<string, string> = {}): Child {
  return startGiraffe(['worker', '--model', slowDir], {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    ORT_INTRA_OP_THREADS: '1',
    JOB_LOCK_MS: '2000',
    // A checkpoint after every step (each takes ~300 ms).
    CHECKPOINT_INTERVAL_MS: '100',
    LOG_LEVEL: 'info',
    ...env,
  });
}

beforeAll(async () => {
  slowDir = path.join(tmp, 'models', 'slow');
  // The U-Net predicts half the sample: every scheduler's history shapes the image.
  await writeSlowModel(slowDir, path.join(tmp, 'data'), 300, 0.5);
  driver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir: path.join(tmp, 'data') });
  reference = await StableDiffusionPipeline.load(slowDir, { intraOpThreads: 1 });
}, 120_000);

afterAll(async () => {
  await killAll();
  await reference?.close();
  await driver?.close();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function submit(fields: Record<string, unknown>): Promise<{ id: string; events: JobEvent[] }> {
  const id = randomUUID();
  const events: JobEvent[] = [];
  await driver.events.subscribe(id, (e) => e.type !== 'preview' && events.push(e));
  const request = resolveRequest(
    { prompt: 'a giraffe that survives', width: SIZE, height: SIZE, steps: STEPS, seed: 11, ...fields },
    { size: SIZE, scheduler: 'euler' },
  );
  await driver.queue.enqueue({ id, model: path.basename(slowDir), request });
  return { id, events };
}

/** Waits for a saved checkpoint of at least `step` steps. */
async function checkpointAt(id: string, step: number): Promise<number> {
  return until(
    `a checkpoint at step ${step}`,
    async () => {
      const data = await driver.checkpoints.load(id);
      const saved = data && decodeCheckpoint(data).step;
      return saved !== undefined && saved >= step && saved;
    },
    60_000,
  );
}

async function expectResumedIdentical(
  id: string,
  events: JobEvent[],
  fields: Record<string, unknown>,
  interruptedAt: number,
): Promise<void> {
  const record = await until(
    'the job to end',
    async () => {
      const r = await driver.queue.get(id);
      return r && ['succeeded', 'failed', 'canceled'].includes(r.status) && r;
    },
    120_000,
  );
  expect(record.status).toBe('succeeded');
  expect(record.attempts).toBeGreaterThan(1);
  const resumed = events.filter((e) => e.type === 'progress' && e.resumed_from_step !== undefined);
  expect(resumed.length).toBeGreaterThan(0);
  const from = (resumed[0] as { resumed_from_step: number }).resumed_from_step;
  expect(from).toBeGreaterThanOrEqual(interruptedAt);
  expect(from).toBeGreaterThan(1);
  // Clients' progress does not jump back: the resumed attempt reports only the steps after it.
  expect(resumed.every((e) => e.type === 'progress' && e.step > from)).toBe(true);
  // The checkpoint is gone with the job.
  expect(await driver.checkpoints.load(id)).toBeUndefined();

  const stored = await driver.results.get(id, 0);
  const whole = await reference.generate({
    prompt: 'a giraffe that survives',
    width: SIZE,
    height: SIZE,
    steps: STEPS,
    seed: 11,
    ...fields,
  });
  expect(stored?.data.equals(whole.images[0])).toBe(true);
}

const killed = [
  { scheduler: 'euler_a', karras: false },
  { scheduler: 'pndm', karras: false },
  { scheduler: 'dpmpp_2m', karras: true },
];

it.each(killed)(
  'SIGKILL mid-job ($scheduler, karras $karras): another worker resumes past step 1, same bytes',
  async (fields) => {
    const first = startWorker();
    await readyWorkerId(first);
    const { id, events } = await submit(fields);
    const step = await checkpointAt(id, 3);
    const killedAt = Date.now();
    await first.kill();
    const second = startWorker();
    await readyWorkerId(second);
    const resumedAt = await until('the resumed attempt to step', () => {
      const e = events.find((ev) => ev.type === 'progress' && ev.resumed_from_step !== undefined);
      return e && Date.parse(e.at);
    });
    // The figure issue 16 asks for (a report, not an assertion: these machines are noisy).
    console.info(
      `recovery after SIGKILL (${fields.scheduler}): ${resumedAt - killedAt} ms to a resumed step`,
    );
    // A checkpoint counts U-Net calls, progress the requested steps: PNDM's first step takes two calls.
    await expectResumedIdentical(id, events, fields, fields.scheduler === 'pndm' ? step - 1 : step);
    await second.kill();
  },
  180_000,
);

it('SIGTERM with SHUTDOWN_GRACE_MS=0: the job is checkpointed, handed back, resumed elsewhere, same bytes', async () => {
  const fields = { scheduler: 'pndm', karras: false };
  // Both ready before the job exists (a worker started later could miss a short job), alike:
  // only a stop takes a checkpoint, none is due by time.
  const env = { SHUTDOWN_GRACE_MS: '0', CHECKPOINT_INTERVAL_MS: '3600000' };
  const workers = new Map<string, Child>();
  for (const w of [startWorker(env), startWorker(env)]) workers.set(await readyWorkerId(w), w);
  const { id, events } = await submit(fields);
  await until('step 3', () => events.some((e) => e.type === 'progress' && e.step >= 3));
  expect(await driver.checkpoints.load(id)).toBeUndefined();
  const leaving = workers.get((await driver.queue.get(id))!.worker!)!;
  leaving.process.kill('SIGTERM');
  expect(await leaving.exited).toBe(0);
  const requeued = events.filter((e) => e.type === 'queued').at(-1)!;
  const restarted = await until('another worker to start it', () =>
    events.find((e) => e.type === 'started' && e.seq > requeued.seq),
  );
  console.info(
    `hand-back after SIGTERM: started again ${Date.parse(restarted.at) - Date.parse(requeued.at)} ms after it was requeued`,
  );
  await expectResumedIdentical(id, events, fields, 3);
}, 180_000);
