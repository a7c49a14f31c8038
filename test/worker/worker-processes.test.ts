import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { JobEvent, JobRecord } from '../../src/jobs';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { resolveRequest } from '../../src/pipeline';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { drained } from '../helpers/event-barrier';
import { writeSlowModel } from '../helpers/slow-model';

// Real `giraffe worker` processes (the built CLI) on a real Redis, running a
// U-Net whose steps take long enough to kill, stop or outlast a lock mid-step.
const bin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-workers-'));
const prefix = testPrefix('workers');
const children = new Set<ChildProcess>();
let driver: QueueDriver;
let slowDir: string;

interface Worker {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  output: string;
}

function startWorker(env: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, [bin, 'worker', '--model', slowDir], {
    env: {
      ...process.env,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      DATA_DIR: path.join(tmp, 'data'),
      MODELS_DIR: path.join(tmp, 'models'),
      ORT_INTRA_OP_THREADS: '1',
      JOB_LOCK_MS: '2000',
      SHUTDOWN_GRACE_MS: '20000',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const worker: Worker = {
    process: child,
    output: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (d: Buffer) => (worker.output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (worker.output += d.toString()));
  void worker.exited.then(() => children.delete(child));
  return worker;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const workerIdOf = async (pid: number): Promise<string> =>
  until(
    `worker ${pid} to be ready`,
    async () => (await driver.workers.list()).find((w) => w.pid === pid)?.id,
  );

async function enqueue(steps: number, id?: string): Promise<JobRecord> {
  const request = resolveRequest(
    { prompt: 'slow giraffe', steps, width: 64, height: 64, guidance_scale: 1, scheduler: 'euler', seed: 1 },
    { size: 64, scheduler: 'euler' },
  );
  return driver.queue.enqueue({ id, model: path.basename(slowDir), request });
}

/** Subscribes first, then enqueues, so not even the first event is missed. */
async function enqueueWatched(
  steps: number,
): Promise<{ job: JobRecord; events: JobEvent[]; stop: () => Promise<void> }> {
  const id = randomUUID();
  const { events, stop } = await watch(id);
  return { job: await enqueue(steps, id), events, stop };
}

async function record(id: string): Promise<JobRecord> {
  return (await driver.queue.get(id))!;
}

/** Collects a job's events from now on. */
async function watch(id: string): Promise<{ events: JobEvent[]; stop: () => Promise<void> }> {
  const events: JobEvent[] = [];
  const stop = await driver.events.subscribe(id, (e) => e.type !== 'preview' && events.push(e));
  return { events, stop };
}

const finalEvents = (events: JobEvent[]): JobEvent[] =>
  events.filter((e) => ['succeeded', 'failed', 'canceled'].includes(e.type));

beforeAll(async () => {
  slowDir = path.join(tmp, 'models', 'slow');
  await writeSlowModel(slowDir, path.join(tmp, 'data'), 400);
  driver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir: path.join(tmp, 'data') });
}, 60_000);

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all([...children].map((c) => new Promise((r) => c.once('exit', r))));
});

afterAll(async () => {
  await driver?.close();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('two workers share one queue', async () => {
  const a = startWorker();
  const b = startWorker();
  const ids = new Set([await workerIdOf(a.process.pid!), await workerIdOf(b.process.pid!)]);
  const jobs = await Promise.all([1, 2, 3, 4].map(() => enqueue(2)));
  const done = await until(
    'all jobs to succeed',
    async () => {
      const records = await Promise.all(jobs.map((j) => record(j.id)));
      return records.every((r) => r.status === 'succeeded') && records;
    },
    60_000,
  );
  expect(new Set(done.map((r) => r.worker))).toEqual(ids);
  expect(done.every((r) => r.attempts === 1)).toBe(true);
}, 90_000);

it('a worker killed mid-job loses nothing: the other finishes it, and clients see one final result', async () => {
  const a = startWorker();
  const idA = await workerIdOf(a.process.pid!);
  const { job, events, stop } = await enqueueWatched(6);
  await until('the first step', async () => events.some((e) => e.type === 'progress'));
  // Kill A mid-job first, then start B: B must take the job over, not race A to the end.
  a.process.kill('SIGKILL');
  await a.exited;
  const b = startWorker();
  const idB = await workerIdOf(b.process.pid!);
  const final = await until(
    'the job to finish on the other worker',
    async () => {
      const r = await record(job.id);
      return r.status === 'succeeded' && r;
    },
    60_000,
  );
  await until('the final event', async () => finalEvents(events).length > 0);
  // Everything published for the job so far has arrived once a marker published now has.
  await drained(driver, job.id, { events });
  await stop();
  expect(final.worker).toBe(idB);
  expect(final.attempts).toBe(2);
  expect(events.filter((e) => e.type === 'started').map((e) => (e as { worker: string }).worker)).toEqual([
    idA,
    idB,
  ]);
  expect(finalEvents(events)).toHaveLength(1);
  expect(await driver.results.get(job.id, 0)).toBeDefined();
}, 90_000);

it('SIGTERM lets the running job finish within the grace period, then exits', async () => {
  const a = startWorker({ SHUTDOWN_GRACE_MS: '30000' });
  const idA = await workerIdOf(a.process.pid!);
  const { job, events, stop } = await enqueueWatched(4);
  await until('the first step', async () => events.some((e) => e.type === 'progress'));
  a.process.kill('SIGTERM');
  expect(await a.exited).toBe(0);
  await stop();
  const r = await record(job.id);
  expect(r).toMatchObject({ status: 'succeeded', worker: idA, attempts: 1 });
  expect((await driver.workers.list()).map((w) => w.id)).not.toContain(idA);
}, 60_000);

it('SIGTERM past the grace period hands the running job back to the queue for another worker', async () => {
  const a = startWorker({ SHUTDOWN_GRACE_MS: '200' });
  await workerIdOf(a.process.pid!);
  const { job, events, stop } = await enqueueWatched(8);
  await until('the first step', async () => events.some((e) => e.type === 'progress'));
  a.process.kill('SIGTERM');
  expect(await a.exited).toBe(0);
  expect((await record(job.id)).status).toBe('queued');
  const b = startWorker();
  const idB = await workerIdOf(b.process.pid!);
  const done = await until(
    'the job to finish on the other worker',
    async () => {
      const r = await record(job.id);
      return r.status === 'succeeded' && r;
    },
    60_000,
  );
  // The record turns `succeeded` just before the event is published: wait for the event, then for
  // a marker published after it, so a duplicate would have arrived too.
  await until('the final event', async () => finalEvents(events).length > 0);
  await drained(driver, job.id, { events });
  await stop();
  expect(done.worker).toBe(idB);
  expect(finalEvents(events)).toHaveLength(1);
}, 90_000);

it('cancels a running job at the next step and takes the next one', async () => {
  const a = startWorker();
  await workerIdOf(a.process.pid!);
  const { job, events, stop } = await enqueueWatched(20);
  const next = await enqueue(1);
  await until('the first step', async () => events.some((e) => e.type === 'progress'));
  expect(await driver.queue.cancel(job.id)).toBe('cancel_requested');
  await until('the job to end canceled', async () => (await record(job.id)).status === 'canceled', 10_000);
  const steps = events.filter((e) => e.type === 'progress').length;
  expect(steps).toBeLessThan(6);
  await until('the next job', async () => (await record(next.id)).status === 'succeeded', 30_000);
  await stop();
  expect(finalEvents(events).map((e) => e.type)).toEqual(['canceled']);
}, 60_000);
