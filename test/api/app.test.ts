import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import sharp from 'sharp';
import { buildApp } from '../../src/api';
import { loadConfig } from '../../src/config';
import { ensureDemoModel, readPngTextChunks } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';

// The API on each queue driver (embedded memory; BullMQ on a real Redis) with
// a real inference worker on the demo model, driven through fastify.inject.
const KEY_A = 'key-a-0123456789';
const KEY_B = 'key-b-0123456789';
const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

describe.each(['memory', 'bullmq'] as const)('on the %s driver', (driverName) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `giraffe-api-${driverName}-`));
  const prefix = testPrefix('api');
  let app: FastifyInstance;
  let driver: QueueDriver;
  let worker: WorkerService;

  beforeAll(async () => {
    const config = loadConfig({
      DATA_DIR: path.join(tmp, 'data'),
      MODELS_DIR: path.join(tmp, 'models'),
      API_KEYS: `${KEY_A},${KEY_B}`,
      LOG_LEVEL: 'silent',
      // The generate route's body limit makes room for two base64 images of this size (≈ 171 KiB).
      MAX_INPUT_IMAGE_BYTES: '16384',
    });
    const demoDir = await ensureDemoModel(config.DATA_DIR);
    driver =
      driverName === 'memory'
        ? createQueueDriver({ dataDir: config.DATA_DIR })
        : createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir: config.DATA_DIR });
    const logger = pino({ level: 'silent' });
    app = await buildApp({ config, driver, logger, extraModels: { demo: demoDir } });
    worker = await WorkerService.start({ driver, models: [{ id: 'demo', dir: demoDir }], logger });
  });

  afterAll(async () => {
    await app?.close();
    await worker?.stop(0);
    await driver?.close();
    if (driverName === 'bullmq') await deleteKeys(prefix);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const small = { prompt: 'a giraffe on a skateboard', steps: 4, width: 64, height: 64, seed: 5 };

  describe('POST /v1/generate', () => {
    it('answers 202 with the job, its seed, position and links', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/generate',
        headers: auth(KEY_A),
        payload: { prompt: 'no seed given', steps: 2, width: 64, height: 64 },
      });
      expect(res.statusCode).toBe(202);
      const body = res.json();
      // An idle worker may already have taken it by the time the answer is written.
      expect(['queued', 'running']).toContain(body.status);
      expect(body).toMatchObject({ model: 'demo', links: { self: `/v1/jobs/${body.id}` } });
      expect(Number.isInteger(body.seed)).toBe(true);
      expect(app.giraffe.streamTokens.verify(body.stream_token, body.id)).toMatch(/^[0-9a-f]{16}$/);
      expect(res.headers.location).toBe(`/v1/jobs/${body.id}`);
    });

    it('?wait=true answers with the finished job, whose image is a PNG remembering its parameters', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/generate?wait=true',
        headers: auth(KEY_A),
        payload: small,
      });
      expect(res.statusCode).toBe(200);
      const job = res.json();
      expect(job).toMatchObject({
        status: 'succeeded',
        seed: 5,
        result: { width: 64, height: 64, images: [{ index: 0, content_type: 'image/png' }] },
      });
      const img = await app.inject({ method: 'GET', url: job.result.images[0].url, headers: auth(KEY_A) });
      expect(img.statusCode).toBe(200);
      expect(img.headers['content-type']).toBe('image/png');
      expect(readPngTextChunks(img.rawPayload).parameters).toContain('Seed: 5');
      const again = await app.inject({
        method: 'GET',
        url: job.result.images[0].url,
        headers: { ...auth(KEY_A), 'if-none-match': String(img.headers.etag) },
      });
      expect(again.statusCode).toBe(304);
      const webp = await app.inject({
        method: 'GET',
        url: `${job.result.images[0].url}?format=webp`,
        headers: auth(KEY_A),
      });
      expect(webp.headers['content-type']).toBe('image/webp');
      expect((await sharp(webp.rawPayload).metadata()).format).toBe('webp');
    });

    it.each([
      ['unknown field', { ...small, colour: 'red' }, 'colour'],
      ['width not a multiple of 8', { ...small, width: 100 }, 'width'],
      ['too many steps', { ...small, steps: 1000 }, 'steps'],
      ['wrong type', { ...small, prompt: 7 }, 'prompt'],
      ['unknown scheduler', { ...small, scheduler: 'heun' }, 'scheduler'],
      ['unknown model', { ...small, model: 'sdxl' }, 'model'],
      ['path as a model', { ...small, model: '../etc' }, 'model'],
    ])('%s → 400 problem naming the field', async (_name, payload, field) => {
      const before = await driver.queue.depth();
      const res = await app.inject({ method: 'POST', url: '/v1/generate', headers: auth(KEY_A), payload });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json();
      expect(problem).toMatchObject({
        status: 400,
        type: expect.stringMatching(/^urn:giraffe:error:/),
        title: expect.any(String),
        detail: expect.stringContaining(field),
      });
      expect(await driver.queue.depth()).toBe(before);
    });

    it('bad JSON → 400, wrong media type → 415, huge body → 413, all problem+json', async () => {
      const bad = await app.inject({
        method: 'POST',
        url: '/v1/generate',
        headers: { ...auth(KEY_A), 'content-type': 'application/json' },
        payload: '{"prompt": ',
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().code).toBe('GIRAFFE_ERR_REQUEST_MALFORMED');
      const text = await app.inject({
        method: 'POST',
        url: '/v1/generate',
        headers: { ...auth(KEY_A), 'content-type': 'text/plain' },
        payload: 'a giraffe',
      });
      expect(text.statusCode).toBe(415);
      const huge = await app.inject({
        method: 'POST',
        url: '/v1/generate',
        headers: auth(KEY_A),
        payload: { prompt: 'x'.repeat(300_000) },
      });
      expect(huge.statusCode).toBe(413);
      for (const r of [bad, text, huge])
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    });
  });

  describe('keys and ownership', () => {
    it("needs a key, rejects a wrong one, and hides one key's jobs from another", async () => {
      expect((await app.inject({ method: 'POST', url: '/v1/generate', payload: small })).statusCode).toBe(
        401,
      );
      const wrong = await app.inject({ method: 'GET', url: '/v1/jobs', headers: auth('not-a-key') });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.headers['www-authenticate']).toContain('Bearer');
      const created = (
        await app.inject({ method: 'POST', url: '/v1/generate', headers: auth(KEY_A), payload: small })
      ).json();
      expect(
        (await app.inject({ method: 'GET', url: `/v1/jobs/${created.id}`, headers: auth(KEY_B) })).statusCode,
      ).toBe(404);
      expect(
        (await app.inject({ method: 'DELETE', url: `/v1/jobs/${created.id}`, headers: auth(KEY_B) }))
          .statusCode,
      ).toBe(404);
      expect(
        (await app.inject({ method: 'GET', url: `/v1/jobs/${created.id}/images/0`, headers: auth(KEY_B) }))
          .statusCode,
      ).toBe(404);
      const listB = (await app.inject({ method: 'GET', url: '/v1/jobs', headers: auth(KEY_B) })).json();
      expect(listB.jobs.map((j: { id: string }) => j.id)).not.toContain(created.id);
      const listA = (await app.inject({ method: 'GET', url: '/v1/jobs', headers: auth(KEY_A) })).json();
      expect(listA.jobs.map((j: { id: string }) => j.id)).toContain(created.id);
    });
  });

  describe('jobs', () => {
    it('cancels a queued job, and refuses to cancel a finished one', async () => {
      // The worker is busy with a long job, so the next one waits.
      const long = (
        await app.inject({
          method: 'POST',
          url: '/v1/generate',
          headers: auth(KEY_A),
          payload: { ...small, steps: 150, width: 512, height: 512 },
        })
      ).json();
      const queued = (
        await app.inject({ method: 'POST', url: '/v1/generate', headers: auth(KEY_A), payload: small })
      ).json();
      const del = await app.inject({ method: 'DELETE', url: `/v1/jobs/${queued.id}`, headers: auth(KEY_A) });
      expect(del.statusCode).toBe(200);
      expect(del.json()).toMatchObject({ status: 'canceled' });
      const delLong = await app.inject({
        method: 'DELETE',
        url: `/v1/jobs/${long.id}`,
        headers: auth(KEY_A),
      });
      expect([200, 202]).toContain(delLong.statusCode);
      const done = (
        await app.inject({
          method: 'POST',
          url: '/v1/generate?wait=true',
          headers: auth(KEY_A),
          payload: small,
        })
      ).json();
      const again = await app.inject({ method: 'DELETE', url: `/v1/jobs/${done.id}`, headers: auth(KEY_A) });
      expect(again.statusCode).toBe(409);
      expect(
        (await app.inject({ method: 'GET', url: `/v1/jobs/${long.id}`, headers: auth(KEY_A) })).json().status,
      ).toBe('canceled');
    });

    it('answers 404 for unknown jobs, images and routes, and 409 for images of an unfinished job', async () => {
      expect(
        (await app.inject({ method: 'GET', url: '/v1/jobs/does-not-exist', headers: auth(KEY_A) }))
          .statusCode,
      ).toBe(404);
      expect(
        (await app.inject({ method: 'GET', url: '/v1/nothing-here', headers: auth(KEY_A) })).statusCode,
      ).toBe(404);
      const done = (
        await app.inject({
          method: 'POST',
          url: '/v1/generate?wait=true',
          headers: auth(KEY_A),
          payload: small,
        })
      ).json();
      expect(
        (await app.inject({ method: 'GET', url: `/v1/jobs/${done.id}/images/3`, headers: auth(KEY_A) }))
          .statusCode,
      ).toBe(404);
    });
  });

  describe('health and models', () => {
    it('is healthy and ready without a key, and lists the demo model', async () => {
      expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ status: 'ready', workers_for_default_model: 1 });
      const models = (await app.inject({ method: 'GET', url: '/v1/models', headers: auth(KEY_A) })).json();
      expect(models.models).toEqual([
        expect.objectContaining({
          id: 'demo',
          workers: 1,
          defaults: expect.objectContaining({ width: 512, scheduler: 'pndm' }),
        }),
      ]);
    });
  });
});

describe('limits and idempotency (memory driver)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-api-limits-'));
  let app: FastifyInstance;
  let driver: QueueDriver;

  beforeAll(async () => {
    // A worker that takes no jobs: they stay queued, so the queue depth limit is reachable.
    const config = loadConfig({
      DATA_DIR: path.join(tmp, 'data'),
      API_KEYS: `${KEY_A},${KEY_B}`,
      LOG_LEVEL: 'silent',
      MAX_QUEUE_DEPTH: '3',
      RATE_LIMIT_MAX: '12',
    });
    driver = createQueueDriver({ dataDir: config.DATA_DIR });
    await announceStandInWorker(driver, ['demo']);
    app = await buildApp({
      config,
      driver,
      logger: pino({ level: 'silent' }),
      extraModels: { demo: await ensureDemoModel(config.DATA_DIR) },
    });
  });
  afterAll(async () => {
    await app?.close();
    await driver?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const body = { prompt: 'idempotent giraffe', steps: 2, width: 64, height: 64, seed: 9 };

  it('returns the same job for a retried Idempotency-Key, 409 for the same key with another body', async () => {
    const headers = { ...auth(KEY_A), 'idempotency-key': 'order-17' };
    const first = await app.inject({ method: 'POST', url: '/v1/generate', headers, payload: body });
    const retry = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers,
      payload: { seed: 9, height: 64, width: 64, steps: 2, prompt: 'idempotent giraffe' },
    });
    expect(first.statusCode).toBe(202);
    expect(retry.json().id).toBe(first.json().id);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    const other = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers,
      payload: { ...body, prompt: 'another' },
    });
    expect(other.statusCode).toBe(409);
    expect(other.json().code).toBe('GIRAFFE_ERR_IDEMPOTENCY_CONFLICT');
    // Keys are per API key: another key may use the same string.
    const b = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers: { ...auth(KEY_B), 'idempotency-key': 'order-17' },
      payload: body,
    });
    expect(b.json().id).not.toBe(first.json().id);
  });

  it('refuses new jobs with 503 and Retry-After once the queue is full, enqueuing nothing', async () => {
    while ((await driver.queue.depth('demo')) < 3) {
      await app.inject({ method: 'POST', url: '/v1/generate', headers: auth(KEY_B), payload: body });
    }
    const full = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers: auth(KEY_B),
      payload: body,
    });
    expect(full.statusCode).toBe(503);
    expect(full.headers['retry-after']).toBe('10');
    expect(full.json()).toMatchObject({ code: 'GIRAFFE_ERR_QUEUE_FULL', status: 503 });
    expect(await driver.queue.depth('demo')).toBe(3);
  });

  it('limits requests per key with 429 and Retry-After, leaving other keys and health checks alone', async () => {
    let limited;
    for (let i = 0; i < 20 && !limited; i++) {
      const res = await app.inject({ method: 'GET', url: '/v1/jobs', headers: auth(KEY_A) });
      if (res.statusCode === 429) limited = res;
    }
    expect(limited).toBeDefined();
    expect(limited!.json().code).toBe('GIRAFFE_ERR_RATE_LIMITED');
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThan(0);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/jobs', headers: auth(KEY_B) })).statusCode).not.toBe(
      429,
    );
  });
});
