import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { JobEvent, JobRecord } from '../../src/jobs';
import { resolveRequest } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { killAll, readyWorkerId, startGiraffe, until, type Child } from '../helpers/processes';
import { drained } from '../helpers/event-barrier';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { writeSlowModel } from '../helpers/slow-model';

// Issue 8: a worker SIGKILLed in the middle of a U-Net step, ten times in a row, over two real
// `giraffe worker` processes on a real Redis (the killed one restarted each time, as a
// supervisor would). Every job must end `succeeded` exactly once, with intact images.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-sigkill-'));
const prefix = testPrefix('sigkill');
const KILLS = 10;
const JOBS = 8;
const SIZE = 64;
let driver: QueueDriver;
let slowDir: string;

function startWorker(): Child {
  return startGiraffe(['worker', '--model', slowDir], {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    ORT_INTRA_OP_THREADS: '1',
    // A killed worker's job comes back after about two lock periods.
    JOB_LOCK_MS: '2000',
    // Each kill counts as a stall against the job; one job may be hit several times here, and
    // the test is about exactly-once completion, not the stall limit.
    JOB_MAX_ATTEMPTS: '20',
    LOG_LEVEL: 'info',
  });
}

beforeAll(async () => {
  slowDir = path.join(tmp, 'models', 'slow');
  await writeSlowModel(slowDir, path.join(tmp, 'data'), 250);
  // The budget goes with each job from where it is queued: here, as in the workers' settings.
  driver = createQueueDriver({
    redisUrl: REDIS_URL,
    prefix,
    dataDir: path.join(tmp, 'data'),
    maxAttempts: 20,
  });
}, 60_000);

afterAll(async () => {
  await killAll();
  await driver?.close();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

it(`${KILLS} SIGKILLs mid-step across two workers: every job succeeds exactly once, images intact`, async () => {
  const workers = new Map<string, Child>();
  const launch = async (): Promise<void> => {
    const child = startWorker();
    workers.set(await readyWorkerId(child), child);
  };
  await Promise.all([launch(), launch()]);

  const events = new Map<string, JobEvent[]>();
  const stops: (() => Promise<void>)[] = [];
  const jobs: JobRecord[] = [];
  for (let i = 0; i < JOBS; i++) {
    const id = randomUUID();
    const seen: JobEvent[] = [];
    events.set(id, seen);
    // Subscribed before the job exists: not even its first event can be missed.
    stops.push(await driver.events.subscribe(id, (e) => e.type !== 'preview' && seen.push(e)));
    const request = resolveRequest(
      {
        prompt: `giraffe ${i}`,
        steps: 8,
        width: SIZE,
        height: SIZE,
        guidance_scale: 1,
        scheduler: 'euler',
        seed: i,
      },
      { size: SIZE, scheduler: 'euler' },
    );
    jobs.push(await driver.queue.enqueue({ id, model: path.basename(slowDir), request }));
  }

  const kills: string[] = [];
  for (let k = 0; k < KILLS; k++) {
    // A live worker reports a step of a job that is still running: kill that worker now,
    // while its inference thread is inside the next step.
    const progressCount = new Map([...events].map(([id, e]) => [id, e.length]));
    const victim = await until(
      `a fresh step for kill ${k + 1}`,
      async () => {
        for (const [id, seen] of events) {
          const fresh = seen.slice(progressCount.get(id)).filter((e) => e.type === 'progress');
          if (fresh.length === 0) continue;
          const record = await driver.queue.get(id);
          const child =
            record?.status === 'running' && record.worker ? workers.get(record.worker) : undefined;
          if (child?.alive()) return { worker: record!.worker!, child };
        }
        return undefined;
      },
      60_000,
    );
    await victim.child.kill();
    workers.delete(victim.worker);
    kills.push(victim.worker);
    await launch();
  }
  expect(kills).toHaveLength(KILLS);

  const done = await until(
    'every job to succeed',
    async () => {
      const records = await Promise.all(jobs.map((j) => driver.queue.get(j.id)));
      const failed = records.find((r) => r?.status === 'failed');
      if (failed) throw new Error(`job ${failed.id} failed: ${JSON.stringify(failed.error)}`);
      return records.every((r) => r?.status === 'succeeded') && (records as JobRecord[]);
    },
    120_000,
  );
  // The record turns `succeeded` just before the event goes out: wait for every final event,
  // then for a marker published after them, so a duplicate would have arrived too.
  const finals = (id: string) =>
    events.get(id)!.filter((e) => e.type === 'succeeded' || e.type === 'failed' || e.type === 'canceled');
  await until('every final event', () => jobs.every((j) => finals(j.id).length > 0));
  await Promise.all(jobs.map((j) => drained(driver, j.id, { events: events.get(j.id)! })));
  await Promise.all(stops.map((stop) => stop()));

  for (const job of jobs) expect(finals(job.id).map((e) => e.type)).toEqual(['succeeded']);
  // Some jobs really were interrupted and taken over.
  expect(done.some((r) => r.attempts > 1)).toBe(true);
  for (const record of done) {
    const image = await driver.results.get(record.id, 0);
    expect(image?.content_type).toBe('image/png');
    const { info } = await sharp(image!.data).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([SIZE, SIZE]);
  }
}, 300_000);
