import type { FastifyInstance } from 'fastify';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';

// Per-client state on an open API (no API_KEYS): each client address is its own scope (issue 17).
describe('an open API scopes per client address', () => {
  let service: DemoService;
  let app: FastifyInstance;
  beforeAll(async () => {
    service = await startDemoService({ worker: false });
    // A live worker that takes no jobs: the API accepts jobs only for served models.
    await announceStandInWorker(service.driver, ['demo']);
    app = service.app;
  });
  afterAll(async () => service?.close());

  const body = { prompt: 'scoped giraffe', steps: 2, width: 64, height: 64, seed: 3 };
  const submit = (remoteAddress: string, key: string, payload: object = body) =>
    app.inject({
      method: 'POST',
      url: '/v1/generate',
      remoteAddress,
      headers: { 'idempotency-key': key },
      payload,
    });

  // Item 16: with no keys configured, every client shared one Idempotency-Key space: another client
  // replaying "order-1" got the first client's job (and its stream token), or a 409 for its own body.
  it('keeps Idempotency-Keys per client address', async () => {
    const first = await submit('198.51.100.7', 'order-1');
    expect(first.statusCode).toBe(202);
    const again = await submit('198.51.100.7', 'order-1');
    expect(again.json().id).toBe(first.json().id);
    expect(again.headers['idempotent-replayed']).toBe('true');

    const stranger = await submit('203.0.113.9', 'order-1');
    expect(stranger.statusCode).toBe(202);
    expect(stranger.headers['idempotent-replayed']).toBeUndefined();
    expect(stranger.json().id).not.toBe(first.json().id);
    const strangerOther = await submit('203.0.113.9', 'order-2', { ...body, prompt: 'another body' });
    expect(strangerOther.statusCode).toBe(202);
    const strangerOwnBody = await submit('203.0.113.10', 'order-1', { ...body, prompt: 'its own body' });
    expect(strangerOwnBody.statusCode).toBe(202);
  });
});

// Item 3: one key (or, on an open API, one address) could fill the whole queue.
describe.each(['memory', 'bullmq'] as const)('MAX_JOBS_PER_KEY on the %s driver', (kind) => {
  const prefix = testPrefix(`per-key-${kind}`);
  const KEY_A = 'per-key-a-0123456789';
  const KEY_B = 'per-key-b-0123456789';
  let service: DemoService;
  beforeAll(async () => {
    service = await startDemoService({
      worker: false,
      env: {
        ...(kind === 'bullmq' ? { REDIS_URL, REDIS_PREFIX: prefix } : {}),
        MAX_JOBS_PER_KEY: '2',
        API_KEYS: `${KEY_A},${KEY_B}`,
      },
    });
    // A live worker that takes no jobs: the API accepts jobs only for served models.
    await announceStandInWorker(service.driver, ['demo']);
  });
  afterAll(async () => {
    await service?.close();
    if (kind === 'bullmq') await deleteKeys(prefix);
  });

  const body = { prompt: 'one of many giraffes', steps: 2, width: 64, height: 64 };
  const submit = (key: string, headers: Record<string, string> = {}) =>
    service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers: { authorization: `Bearer ${key}`, ...headers },
      payload: body,
    });

  it('refuses a key its third unfinished job with 429 and Retry-After, queues nothing, and leaves other keys alone', async () => {
    const first = await submit(KEY_A);
    const second = await submit(KEY_A);
    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    const depth = await service.driver.queue.depth();
    const third = await submit(KEY_A);
    expect(third.statusCode).toBe(429);
    expect(third.json()).toMatchObject({ code: 'GIRAFFE_ERR_TOO_MANY_JOBS', status: 429 });
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    expect(await service.driver.queue.depth()).toBe(depth);
    // Another key has its own count.
    expect((await submit(KEY_B)).statusCode).toBe(202);

    // A job that ends frees its place.
    const canceled = await service.app.inject({
      method: 'DELETE',
      url: `/v1/jobs/${first.json().id}`,
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    expect(canceled.statusCode).toBe(200);
    expect((await submit(KEY_A)).statusCode).toBe(202);
    expect((await submit(KEY_A)).statusCode).toBe(429);
  });

  it('lets concurrent submits past the limit through no further than the limit', async () => {
    const KEY = KEY_B;
    const answers = await Promise.all(Array.from({ length: 8 }, () => submit(KEY)));
    // KEY_B already has one job from the test before.
    expect(answers.filter((a) => a.statusCode === 202).length).toBeLessThanOrEqual(1);
    expect(answers.every((a) => a.statusCode === 202 || a.statusCode === 429)).toBe(true);
  });
});

it('counts MAX_JOBS_PER_KEY per client address when no API keys are configured', async () => {
  const service = await startDemoService({ worker: false, env: { MAX_JOBS_PER_KEY: '1' } });
  // A live worker that takes no jobs: the API accepts jobs only for served models.
  await announceStandInWorker(service.driver, ['demo']);
  try {
    const submit = (remoteAddress: string) =>
      service.app.inject({
        method: 'POST',
        url: '/v1/generate',
        remoteAddress,
        payload: { prompt: 'x', steps: 2, width: 64, height: 64 },
      });
    expect((await submit('198.51.100.7')).statusCode).toBe(202);
    expect((await submit('198.51.100.7')).statusCode).toBe(429);
    expect((await submit('203.0.113.9')).statusCode).toBe(202);
  } finally {
    await service.close();
  }
});
