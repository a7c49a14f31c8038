import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  killAll,
  listeningAddress,
  privateRedis,
  readyWorkerId,
  startGiraffe,
  until,
  type Child,
  type PrivateRedis,
} from '../helpers/processes';
import { writeSlowModel } from '../helpers/slow-model';

// Issue 8: Redis dies (SIGKILL, no save) while jobs wait and one runs, under a real
// `giraffe serve` and a real `giraffe worker`. While it is away the API answers 503 +
// Retry-After, stays alive and live; once Redis is back on the same port and directory (its
// append-only file fsynced on every write), every job accepted before the crash succeeds.
// A private redis-server: the shared one must not be killed under other tests.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-redis-restart-'));
const MODEL = 'slow';
let redis: PrivateRedis;
let base: string;
let serve: Child;
let worker: Child;

const env = (): Record<string, string> => ({
  REDIS_URL: redis.url,
  REDIS_PREFIX: '{giraffe-fault}',
  DATA_DIR: path.join(tmp, 'data'),
  MODELS_DIR: path.join(tmp, 'models'),
  DEFAULT_MODEL: MODEL,
  ORT_INTRA_OP_THREADS: '1',
  JOB_LOCK_MS: '2000',
  LOG_LEVEL: 'info',
  // The test polls job states often; the rate limit is another test's subject.
  RATE_LIMIT_MAX: '1000000',
});

async function api(method: string, url: string, body?: unknown): Promise<Response> {
  return fetch(`${base}${url}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
}

const submit = (seed: number) =>
  api('POST', '/v1/generate', {
    model: MODEL,
    prompt: 'a giraffe outlasting its database',
    steps: 6,
    width: 64,
    height: 64,
    guidance_scale: 1,
    scheduler: 'euler',
    seed,
  });

async function expectUnavailable(response: Response): Promise<void> {
  const body = (await response.json()) as { status: number; code: string };
  expect({ status: response.status, body }).toMatchObject({
    status: 503,
    body: { status: 503, code: 'GIRAFFE_ERR_QUEUE_UNAVAILABLE' },
  });
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
}

beforeAll(async () => {
  await writeSlowModel(path.join(tmp, 'models', MODEL), path.join(tmp, 'data'), 250);
  redis = await privateRedis(path.join(tmp, 'redis'));
  await redis.start();
  serve = startGiraffe(['serve', '--host', '127.0.0.1', '--port', '0'], env());
  worker = startGiraffe(['worker', '--model', MODEL], env());
  base = await listeningAddress(serve);
  await readyWorkerId(worker);
}, 90_000);

afterAll(async () => {
  await killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('jobs accepted before a Redis crash all succeed after it; meanwhile the API answers 503', async () => {
  await until('readiness', async () => (await api('GET', '/readyz')).status === 200);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const response = await submit(i);
    expect(response.status).toBe(202);
    ids.push(((await response.json()) as { id: string }).id);
  }
  // One runs (mid-step), the others wait.
  await until('the first job to make progress', async () => {
    const job = (await (await api('GET', `/v1/jobs/${ids[0]}`)).json()) as { progress?: { step: number } };
    return (job.progress?.step ?? 0) >= 1;
  });

  await redis.kill();
  // Away for longer than a job lock lasts, so the running job's lock is gone when Redis returns.
  const awayUntil = Date.now() + 5000;
  await expectUnavailable(await submit(99));
  await expectUnavailable(await api('GET', `/v1/jobs/${ids[1]}`));
  const readyz = await api('GET', '/readyz');
  expect(readyz.status).toBe(503);
  expect((await readyz.json()) as unknown).toMatchObject({ queue: 'down' });
  expect((await api('GET', '/healthz')).status).toBe(200);
  while (Date.now() < awayUntil) {
    expect((await api('GET', '/healthz')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
  }
  await expectUnavailable(await api('GET', `/v1/jobs/${ids[0]}`));
  expect([serve.alive(), worker.alive()]).toEqual([true, true]);

  await redis.start();
  const finished = await until(
    'every job accepted before the crash to succeed',
    async () => {
      const responses = await Promise.all(ids.map((id) => api('GET', `/v1/jobs/${id}`)));
      // Redis may still be loading its append-only file: 503 until it answers.
      if (responses.some((r) => r.status !== 200)) return undefined;
      const jobs = (await Promise.all(responses.map((r) => r.json()))) as {
        status: string;
        error?: unknown;
      }[];
      const failed = jobs.find((j) => j.status === 'failed');
      if (failed) throw new Error(`a job failed: ${JSON.stringify(failed)}`);
      return jobs.every((j) => j.status === 'succeeded') && jobs;
    },
    90_000,
  );
  expect(finished).toHaveLength(ids.length);
  for (const id of ids) {
    const image = await api('GET', `/v1/jobs/${id}/images/0`);
    expect(image.status).toBe(200);
    const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([64, 64]);
  }
  // The service is whole again: new jobs are taken, and neither process ever went down.
  await until('readiness after the restart', async () => (await api('GET', '/readyz')).status === 200);
  expect((await submit(100)).status).toBe(202);
  expect([serve.alive(), worker.alive()]).toEqual([true, true]);
}, 180_000);
