import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import pino from 'pino';
import { buildApp } from '../../src/api';
import { metricsPlugin } from '../../src/api/metrics';
import { problemHandlers } from '../../src/api/problem';
import { loadConfig } from '../../src/config';
import type { JobRecord } from '../../src/jobs';
import { ensureDemoModel } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';

// Two apps in one process, each with its own registry: one with a worker on
// the demo model, one on a driver nobody consumes (so its queue fills up).
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-metrics-'));
const KEY = 'metrics-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
const logger = pino({ level: 'silent' });
let app: FastifyInstance;
let idleApp: FastifyInstance;
let driver: QueueDriver;
let idleDriver: QueueDriver;
let worker: WorkerService;

beforeAll(async () => {
  const config = loadConfig({
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    API_KEYS: KEY,
    LOG_LEVEL: 'silent',
  });
  const demoDir = await ensureDemoModel(config.DATA_DIR);
  driver = createQueueDriver({ dataDir: config.DATA_DIR });
  idleDriver = createQueueDriver({ dataDir: path.join(tmp, 'idle') });
  app = await buildApp({ config, driver, logger, extraModels: { demo: demoDir } });
  idleApp = await buildApp({ config, driver: idleDriver, logger, extraModels: { demo: demoDir } });
  worker = await WorkerService.start({ driver, models: [{ id: 'demo', dir: demoDir }], logger });
});

afterAll(async () => {
  await app?.close();
  await idleApp?.close();
  await worker?.stop(0);
  await driver?.close();
  await idleDriver?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The value of one sample of a Prometheus text exposition, matching every given label. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(target: FastifyInstance = app): Promise<string> {
  const res = await target.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return res.body;
}

/** Scrapes until `check` passes (job metrics follow the job's events, a moment after the response). */
async function eventually(check: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape();
    if (check(text)) return text;
    if (Date.now() > until) throw new Error(`metrics never matched:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const small = { prompt: 'a giraffe counting', steps: 3, width: 64, height: 64, seed: 11 };

describe('GET /metrics', () => {
  it('answers without an API key, in the Prometheus text format, with prefixed process metrics', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toMatch(/^# HELP giraffe_process_cpu_user_seconds_total /m);
    expect(sample(res.body, 'giraffe_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(res.body, 'giraffe_process_resident_memory_bytes')).toBeGreaterThan(0);
    // Nothing else lost its key requirement on the way.
    expect((await app.inject({ method: 'GET', url: '/v1/jobs' })).statusCode).toBe(401);
  });

  it('counts requests by method, route pattern and status class, never by raw URL', async () => {
    const before = await scrape();
    const jobRoute = { method: 'GET', route: '/v1/jobs/:id', status_class: '4xx' };
    const unmatched = { method: 'GET', route: 'unmatched', status_class: '4xx' };
    const count = (text: string, labels: Record<string, string>): number =>
      sample(text, 'giraffe_http_requests_total', labels) ?? 0;
    for (const id of ['nope-1', 'nope-2', 'nope-3'])
      expect((await app.inject({ method: 'GET', url: `/v1/jobs/${id}`, headers: auth })).statusCode).toBe(
        404,
      );
    await app.inject({ method: 'GET', url: '/no/such/route', headers: auth });
    await app.inject({ method: 'GET', url: '/v1/jobs' }); // 401
    const after = await scrape();
    expect(count(after, jobRoute) - count(before, jobRoute)).toBe(3);
    expect(count(after, unmatched) - count(before, unmatched)).toBe(1);
    expect(count(after, { route: '/v1/jobs', status_class: '4xx' })).toBeGreaterThanOrEqual(1);
    expect(after).not.toContain('nope-1');
    expect(after).not.toContain('/no/such/route');
    expect(
      sample(after, 'giraffe_http_request_duration_seconds_count', jobRoute)! -
        (sample(before, 'giraffe_http_request_duration_seconds_count', jobRoute) ?? 0),
    ).toBe(3);
    expect(sample(after, 'giraffe_http_request_duration_seconds_bucket', { ...jobRoute, le: '+Inf' })).toBe(
      sample(after, 'giraffe_http_request_duration_seconds_count', jobRoute),
    );
  });

  it('reads queue depth, queue health and workers per model at scrape time, per app', async () => {
    const text = await scrape();
    expect(sample(text, 'giraffe_queue_up')).toBe(1);
    expect(sample(text, 'giraffe_workers', { model: 'demo' })).toBe(1);
    expect(sample(text, 'giraffe_queue_depth', { model: 'demo' })).toBe(await driver.queue.depth('demo'));
    // No stream is open through inject: the gauges exist and read the live count.
    expect(sample(text, 'giraffe_stream_clients', { transport: 'websocket' })).toBe(0);
    expect(sample(text, 'giraffe_stream_clients', { transport: 'sse' })).toBe(0);
    expect(sample(text, 'giraffe_stream_jobs_followed')).toBe(0);
    expect(sample(text, 'giraffe_stream_previews_total', { outcome: 'sent' })).toBe(0);
    expect(sample(text, 'giraffe_stream_previews_total', { outcome: 'dropped' })).toBe(0);

    // Nobody consumes the idle driver: its jobs wait, and only its app reports them.
    const request = { ...small, negative_prompt: '', guidance_scale: 7.5, scheduler: 'pndm' as const };
    const spec = { karras: false, num_images: 1, output_format: 'png' as const };
    for (let i = 0; i < 3; i++)
      await idleDriver.queue.enqueue({ model: 'demo', request: { ...request, ...spec } });
    const idle = await scrape(idleApp);
    expect(sample(idle, 'giraffe_queue_depth', { model: 'demo' })).toBe(3);
    expect(sample(idle, 'giraffe_workers', { model: 'demo' })).toBe(0);
    expect(sample(await scrape(), 'giraffe_queue_depth', { model: 'demo' })).toBe(0);
  });

  it('observes the jobs this process created once they end: status, duration, queue wait, step time', async () => {
    const finished = (text: string, status: string): number =>
      sample(text, 'giraffe_jobs_finished_total', { model: 'demo', status }) ?? 0;
    const before = await scrape();

    // One waited for, one answered 202 and left to finish.
    const waited = await app.inject({
      method: 'POST',
      url: '/v1/generate?wait=true',
      headers: auth,
      payload: small,
    });
    expect(waited.json().status).toBe('succeeded');
    const queued = await app.inject({ method: 'POST', url: '/v1/generate', headers: auth, payload: small });
    expect(queued.statusCode).toBe(202);

    const after = await eventually((t) => finished(t, 'succeeded') - finished(before, 'succeeded') === 2);
    const delta = (name: string, labels: Record<string, string>): number =>
      (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('giraffe_job_duration_seconds_count', { model: 'demo', status: 'succeeded' })).toBe(2);
    expect(delta('giraffe_job_queue_wait_seconds_count', { model: 'demo' })).toBe(2);
    expect(delta('giraffe_job_step_seconds_count', { model: 'demo' })).toBe(2);
    const job = (await driver.queue.get(waited.json().id)) as JobRecord;
    const step = job.result!.timings.denoise_ms / job.result!.timings.unet_calls / 1000;
    expect(delta('giraffe_job_step_seconds_sum', { model: 'demo' })).toBeGreaterThanOrEqual(step * 0.999);
    expect(sample(after, 'giraffe_jobs_watched')).toBe(0);
  });

  it('counts a canceled job as canceled', async () => {
    const before = await scrape();
    const canceled = (text: string): number =>
      sample(text, 'giraffe_jobs_finished_total', { model: 'demo', status: 'canceled' }) ?? 0;
    // A long job keeps the worker busy, so the second one waits and can be canceled in the queue.
    const long = (
      await app.inject({
        method: 'POST',
        url: '/v1/generate',
        headers: auth,
        payload: { ...small, steps: 150, width: 512, height: 512 },
      })
    ).json();
    const waiting = (
      await app.inject({ method: 'POST', url: '/v1/generate', headers: auth, payload: small })
    ).json();
    for (const id of [waiting.id, long.id])
      expect([200, 202]).toContain(
        (await app.inject({ method: 'DELETE', url: `/v1/jobs/${id}`, headers: auth })).statusCode,
      );
    await eventually((t) => canceled(t) - canceled(before) === 2);
  });
});

describe('GET /v1/jobs/:id', () => {
  it("shows a finished job's reproducibility record", async () => {
    const done = await app.inject({
      method: 'POST',
      url: '/v1/generate?wait=true',
      headers: auth,
      payload: small,
    });
    const job = (
      await app.inject({ method: 'GET', url: `/v1/jobs/${done.json().id}`, headers: auth })
    ).json();
    expect(job.result.reproducibility).toMatchObject({
      model: { id: 'demo', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      rng: { seed: small.seed },
      request: job.request,
    });
  });
});

describe('job metrics without events', () => {
  it('finds the end of a job from its record when its events never arrive', async () => {
    // A driver whose event bus is down: only the sweep can see the job end.
    let record: Partial<JobRecord> = { status: 'running' };
    const fake = {
      events: { subscribeEnded: () => Promise.reject(new Error('event bus down')) },
      queue: { get: async () => record as JobRecord },
    } as unknown as QueueDriver;
    const bare = Fastify();
    bare.setValidatorCompiler(validatorCompiler);
    bare.setSerializerCompiler(serializerCompiler);
    bare.decorate('giraffe', { driver: fake, catalog: { list: async () => [] } } as never);
    await bare.register(problemHandlers); // metricsPlugin depends on it
    await bare.register(metricsPlugin, { sweepMs: 20 });
    bare.post('/make', async (_request, reply) =>
      reply.code(202).header('location', '/v1/jobs/j-1').send({}),
    );
    try {
      await bare.inject({ method: 'POST', url: '/make' });
      const watched = async (): Promise<number | undefined> =>
        sample((await bare.inject({ method: 'GET', url: '/metrics' })).body, 'giraffe_jobs_watched');
      expect(await watched()).toBe(1);
      const now = new Date().toISOString();
      record = { model: 'm', status: 'failed', created_at: now, started_at: now, finished_at: now };
      for (let i = 0; i < 100 && (await watched()) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
      const text = (await bare.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sample(text, 'giraffe_jobs_finished_total', { model: 'm', status: 'failed' })).toBe(1);
      expect(sample(text, 'giraffe_jobs_watched')).toBe(0);
    } finally {
      await bare.close();
    }
  });
});
