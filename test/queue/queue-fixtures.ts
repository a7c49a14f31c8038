import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobEvent, JobPreview, JobRecord, JobResult, ResolvedJobRequest } from '../../src/jobs';
import { createQueueDriver, type QueueDriver, type QueueDriverOptions } from '../../src/queue';
import { REDIS_URL, deleteKeys, testPrefix } from '../helpers/redis';

export type DriverKind = 'memory' | 'bullmq with Redis results' | 'bullmq with file results';

export const driverKinds: DriverKind[] = ['memory', 'bullmq with Redis results', 'bullmq with file results'];

/**
 * Drivers of one kind for the current test, each with its own Redis prefix
 * and temp dir; `afterEach` closes them and removes every key and file.
 */
export function driverHarness(kind: DriverKind): {
  make(options?: QueueDriverOptions): QueueDriver;
  readonly prefix: string;
  readonly dataDir: string;
} {
  let prefix = '';
  let dataDir = '';
  let drivers: QueueDriver[] = [];

  beforeEach(() => {
    prefix = testPrefix('queue');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-queue-'));
  });

  afterEach(async () => {
    await Promise.all(drivers.map((d) => d.close()));
    drivers = [];
    if (kind !== 'memory') await deleteKeys(prefix);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  return {
    make(options: QueueDriverOptions = {}) {
      const driver = createQueueDriver({
        backoffMs: 10,
        ...(kind === 'memory'
          ? { dataDir }
          : {
              redisUrl: REDIS_URL,
              prefix,
              dataDir,
              results: kind === 'bullmq with file results' ? 'files' : 'redis',
            }),
        ...options,
      });
      drivers.push(driver);
      return driver;
    },
    get prefix() {
      return prefix;
    },
    get dataDir() {
      return dataDir;
    },
  };
}

export const request: ResolvedJobRequest = {
  prompt: 'a giraffe on a skateboard',
  negative_prompt: '',
  width: 64,
  height: 64,
  steps: 3,
  guidance_scale: 7.5,
  scheduler: 'euler',
  karras: false,
  seed: 42,
  num_images: 1,
  output_format: 'png',
};

export function resultOf(job: JobRecord, images = 0): JobResult {
  return {
    images: Array.from({ length: images }, (_, index) => ({ index, content_type: 'image/png', bytes: 4 })),
    seed: job.request.seed,
    width: job.request.width,
    height: job.request.height,
    parameters: job.request.prompt,
    timings: { total_ms: 1 },
  };
}

/** Polls until `check` returns a truthy value; fails the test after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its resolve function, for handlers a test lets go of. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open = () => undefined as void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Subscribes to a job and keeps its events; `final()` waits for the job to end. */
export async function recordEvents(driver: QueueDriver, jobId: string) {
  const events: JobEvent[] = [];
  const previews: JobPreview[] = [];
  const stop = await driver.events.subscribe(jobId, (e) =>
    e.type === 'preview' ? previews.push(e) : events.push(e),
  );
  const isFinalEvent = (e: JobEvent) =>
    e.type === 'succeeded' || e.type === 'failed' || e.type === 'canceled';
  return {
    events,
    previews,
    stop,
    types: () => events.map((e) => e.type),
    final: () => waitFor(`the final event of ${jobId}`, () => events.find(isFinalEvent)),
  };
}

/** A handler abort that resolves as the signal fires. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export { drained } from '../helpers/event-barrier';
