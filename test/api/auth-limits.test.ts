import { startDemoService, type DemoService } from '../helpers/demo-service';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';

// Issue 17, items 4 and 5, on both drivers (in distributed mode the counters live in Redis).
describe.each(['memory', 'bullmq'] as const)('authentication and stream limits on the %s driver', (kind) => {
  const prefix = testPrefix(`auth-limits-${kind}`);
  const KEY = 'auth-limits-key-0123456789';
  let service: DemoService;
  beforeAll(async () => {
    service = await startDemoService({
      worker: false,
      env: {
        ...(kind === 'bullmq' ? { REDIS_URL, REDIS_PREFIX: prefix } : {}),
        API_KEYS: KEY,
        AUTH_FAILURE_MAX: '5',
        RATE_LIMIT_MAX: '6',
      },
    });
    // A live worker that takes no jobs: the API accepts jobs only for served models.
    await announceStandInWorker(service.driver, ['demo']);
    // The API's own Redis connection (counters) fails fast rather than queue commands: let it connect.
    const redis = service.app.giraffe.redis;
    if (redis && redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    await service?.close();
    if (kind === 'bullmq') await deleteKeys(prefix);
  });
  const get = (url: string, remoteAddress: string, key?: string) =>
    service.app.inject({
      method: 'GET',
      url,
      remoteAddress,
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });

  // Item 4: wrong keys got 401 forever; the request rate limit counts per key and never saw them.
  it('refuses an address that keeps presenting wrong keys with 429, even its right key, until the window ends', async () => {
    const guesser = '198.51.100.23';
    for (let i = 0; i < 5; i++) {
      expect((await get('/v1/jobs', guesser, `wrong-key-${i}-0123456789`)).statusCode).toBe(401);
    }
    const limited = await get('/v1/jobs', guesser, 'wrong-key-x-0123456789');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'GIRAFFE_ERR_RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Its credentials are not even checked now: a guess that happens to be right learns nothing.
    expect((await get('/v1/jobs', guesser, KEY)).statusCode).toBe(429);
    // Bad stream tokens count too, and are refused the same way.
    expect(
      (await get('/v1/jobs/00000000-0000-4000-8000-000000000000/events?token=forged', guesser)).statusCode,
    ).toBe(429);
    // Another address is not affected, and requests without a key are not guesses.
    expect((await get('/v1/jobs', '203.0.113.5', KEY)).statusCode).toBe(200);
    expect((await get('/v1/jobs', '203.0.113.6')).statusCode).toBe(401);
  });

  // Item 5: stream connections spent the request budget of the key that owns the job.
  it('counts stream connections apart from the requests of the key that owns the job', async () => {
    const client = '203.0.113.77';
    const created = await service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      remoteAddress: client,
      headers: { authorization: `Bearer ${KEY}` },
      payload: { prompt: 'a watched giraffe', steps: 2, width: 64, height: 64 },
    });
    expect(created.statusCode).toBe(202);
    const { id, stream_token } = created.json();
    await service.app.inject({
      method: 'DELETE',
      url: `/v1/jobs/${id}`,
      remoteAddress: client,
      headers: { authorization: `Bearer ${KEY}` },
    });
    // Reconnects of an ended job's event stream (204 each), with its token, as a page would make them.
    const streams: number[] = [];
    for (let i = 0; i < 7; i++) {
      streams.push((await get(`/v1/jobs/${id}/events?after=99&token=${stream_token}`, client)).statusCode);
    }
    expect(streams.slice(0, 6)).toEqual(Array(6).fill(204));
    expect(streams[6]).toBe(429);
    // The key's own requests still have their budget (3 spent: a GET above, the POST and the DELETE).
    expect((await get(`/v1/jobs/${id}`, client, KEY)).statusCode).toBe(200);
  });
});
