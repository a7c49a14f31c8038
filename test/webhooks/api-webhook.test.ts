import * as http from 'node:http';
import { createHmac } from 'node:crypto';
import { startDemoService } from '../helpers/demo-service';
import { announceStandInWorker } from '../helpers/stand-in-worker';

// A job created through the HTTP API with a webhook_url: the worker posts a
// signed `completed` delivery to a real receiver on loopback (allow-listed).
it('delivers a signed completed webhook for a job made with POST /v1/generate', async () => {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  let delivered: () => void = () => undefined;
  const arrived = new Promise<void>((r) => (delivered = r));
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.end('ok');
      if (JSON.parse(body).type === 'completed') delivered();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as { port: number }).port;
  const secret = 'webhook-master-secret-123';
  const service = await startDemoService({ env: { WEBHOOK_SECRET: secret, WEBHOOK_ALLOWLIST: '127.0.0.1' } });
  const { app } = service;
  try {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: {
        prompt: 'hooked giraffe',
        steps: 2,
        width: 64,
        height: 64,
        webhook_url: `http://127.0.0.1:${port}/hook`,
      },
    });
    expect(res.statusCode).toBe(202);
    await arrived;
    const completed = received.find((r) => JSON.parse(r.body).type === 'completed')!;
    const payload = JSON.parse(completed.body);
    expect(payload.job).toMatchObject({ id: res.json().id, status: 'succeeded' });
    // Verify as a receiver would: HMAC-SHA256 over "<t>.<body>" with the key's derived secret.
    const [t, v1] = String(completed.headers['giraffe-signature'])
      .split(',')
      .map((p) => p.split('=')[1]);
    const keySecret = createHmac('sha256', secret).update('_').digest('hex');
    expect(v1).toBe(createHmac('sha256', keySecret).update(`${t}.${completed.body}`).digest('hex'));
  } finally {
    await service.close();
    receiver.close();
  }
});

// Issue 17, item 14: the docs promise that webhook bodies carry no prompt; the result's `parameters`
// infotext and reproducibility record used to carry it. A job may ask for it with webhook_include_prompt.
it('leaves the prompts out of webhook bodies unless the job asks for them', async () => {
  const bodies: string[] = [];
  const waiters: Array<() => void> = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.end('ok');
      waiters.splice(0).forEach((w) => w());
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as { port: number }).port;
  const service = await startDemoService({
    env: { WEBHOOK_SECRET: 'webhook-master-secret-123', WEBHOOK_ALLOWLIST: '127.0.0.1' },
  });
  const completedFor = async (id: string): Promise<string> => {
    for (;;) {
      const found = bodies.find((b) => JSON.parse(b).type === 'completed' && JSON.parse(b).job.id === id);
      if (found) return found;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  try {
    const submit = async (extra: Record<string, unknown>): Promise<string> => {
      const res = await service.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: {
          prompt: 'secret giraffe plans',
          negative_prompt: 'hidden zebra',
          steps: 2,
          width: 64,
          height: 64,
          webhook_url: `http://127.0.0.1:${port}/hook`,
          ...extra,
        },
      });
      expect(res.statusCode).toBe(202);
      return res.json().id;
    };
    const quiet = await completedFor(await submit({}));
    const payload = JSON.parse(quiet);
    expect(payload.job.status).toBe('succeeded');
    expect(quiet).not.toContain('secret giraffe plans');
    expect(quiet).not.toContain('hidden zebra');
    // The settings stay: a receiver can still tell how the image was made.
    expect(payload.job.result.parameters).toMatch(/^Steps: 2, /);
    expect(payload.job.result.reproducibility.request).toMatchObject({ steps: 2, width: 64 });
    expect(payload.event.result.parameters).toMatch(/^Steps: 2, /);

    const told = await completedFor(await submit({ webhook_include_prompt: true }));
    expect(JSON.parse(told).job.result.reproducibility.request.prompt).toBe('secret giraffe plans');
    expect(JSON.parse(told).job.result.parameters).toContain('hidden zebra');
  } finally {
    await service.close();
    receiver.close();
  }
});

it('refuses a webhook_url with 400 when the deployment has no WEBHOOK_SECRET', async () => {
  const { app, driver, close } = await startDemoService({ worker: false });
  try {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'x', webhook_url: 'https://example.com/hook' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'GIRAFFE_ERR_WEBHOOKS_DISABLED',
      errors: [{ path: 'webhook_url' }],
    });
    expect(await driver.queue.depth()).toBe(0);
  } finally {
    await close();
  }
});

// Issue 17: a webhook that could never be delivered is refused when the job is submitted, not accepted and failed later.
describe('webhook destination checked at submit', () => {
  let service: Awaited<ReturnType<typeof startDemoService>>;
  beforeAll(async () => {
    service = await startDemoService({ worker: false, env: { WEBHOOK_SECRET: 'webhook-master-secret-123' } });
    // A live worker that takes no jobs: the API accepts jobs only for served models.
    await announceStandInWorker(service.driver, ['demo']);
  });
  afterAll(async () => service.close());

  it.each([
    'http://127.0.0.1:9/hook',
    'http://[::1]:9/hook',
    'http://[::ffff:0:7f00:1]:9/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://localhost:9/hook',
    'http://hooks.localhost/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://10.1.2.3/hook',
  ])('refuses %s with 400 and queues nothing', async (url) => {
    const res = await service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'x', webhook_url: url },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED',
      errors: [{ path: 'webhook_url' }],
    });
    expect(await service.driver.queue.depth()).toBe(0);
  });

  it.each([
    ['webhook_events', ['completed']],
    ['webhook_include_prompt', true],
  ])('refuses %s without a webhook_url', async (field, value) => {
    const res = await service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'x', [field]: value },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'GIRAFFE_ERR_REQUEST_INVALID',
      errors: [{ path: field }],
    });
    expect(await service.driver.queue.depth()).toBe(0);
  });

  it('accepts a public address, and a name whose DNS does not answer (delivery checks it again)', async () => {
    for (const url of ['https://93.184.215.14/hook', 'https://hooks.invalid/hook']) {
      const res = await service.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: { prompt: 'x', webhook_url: url },
      });
      expect(res.statusCode).toBe(202);
    }
  });
});

it('accepts an allow-listed loopback webhook_url', async () => {
  const service = await startDemoService({
    worker: false,
    env: { WEBHOOK_SECRET: 'webhook-master-secret-123', WEBHOOK_ALLOWLIST: '127.0.0.1,localhost' },
  });
  // A live worker that takes no jobs: the API accepts jobs only for served models.
  await announceStandInWorker(service.driver, ['demo']);
  try {
    for (const url of ['http://127.0.0.1:9/hook', 'http://[::ffff:0:7f00:1]:9/hook', 'http://localhost:9/']) {
      const res = await service.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: { prompt: 'x', webhook_url: url },
      });
      expect(res.statusCode).toBe(202);
    }
  } finally {
    await service.close();
  }
});
