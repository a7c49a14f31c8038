import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { isGiraffeError } from '../../src/errors';
import type { WebhookSubscription } from '../../src/jobs/job-request';
import { ensureDemoModel, resolveRequest } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import {
  deriveWebhookSecret,
  postWebhook,
  verifySignature,
  WebhookAllowlist,
  type WebhookPayload,
} from '../../src/webhooks';
import { WorkerService } from '../../src/worker';

// Real deliveries: a receiver on 127.0.0.1 (allowed through WEBHOOK_ALLOWLIST
// in these tests), real jobs on the memory driver and a WorkerService running
// the demo model.

interface Received {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

class Receiver {
  readonly received: Received[] = [];
  /** Status answered to each request in turn; 200 once they run out. */
  statuses: number[] = [];
  #server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = this.statuses.shift() ?? 200;
      res.end();
    });
  });
  #waiters: Array<() => void> = [];

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#server.on('request', () => setImmediate(() => this.#waiters.splice(0).forEach((w) => w())));
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(pathname = '/hook'): string {
    return `http://127.0.0.1:${this.port}${pathname}`;
  }

  /** Waits until `predicate` holds over what was received. */
  async until(predicate: (received: Received[]) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > deadline) throw new Error(`receiver: condition not met; got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

const MASTER = 'webhook-master-secret-0123';
const OWNER = 'owner-0001';
const payloads = (received: Received[]): WebhookPayload[] =>
  received.map((r) => JSON.parse(r.body) as WebhookPayload);

describe('job webhooks through a worker', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-webhooks-'));
  const subscriptions = new Map<string, WebhookSubscription>();
  let driver: QueueDriver;
  let worker: WorkerService;

  // A worker per test: stopping it waits for its deliveries under way, which is how a test knows
  // that nothing else will follow.
  beforeEach(async () => {
    const demoDir = await ensureDemoModel(path.join(tmp, 'data'));
    driver = createQueueDriver({ dataDir: path.join(tmp, 'data') });
    worker = await WorkerService.start({
      driver,
      models: [{ id: 'demo', dir: demoDir }],
      logger: pino({ level: 'silent' }),
      webhooks: {
        secret: MASTER,
        allowlist: '127.0.0.1',
        backoffMs: 20,
        timeoutMs: 5000,
        subscriptionOf: (job) => subscriptions.get(job.id),
      },
    });
  });

  afterEach(async () => {
    await worker?.stop(0);
    await driver?.close();
  });

  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function runJob(subscription: WebhookSubscription): Promise<string> {
    const id = randomUUID();
    subscriptions.set(id, subscription);
    const request = resolveRequest(
      { prompt: 'a giraffe', steps: 3, width: 64, height: 64, seed: 7 },
      {
        size: 64,
        scheduler: 'euler',
      },
    );
    await driver.queue.enqueue({ id, model: 'demo', request, owner: OWNER });
    return id;
  }

  it('delivers signed started and completed webhooks for a job', async () => {
    const receiver = new Receiver();
    await receiver.listen();
    try {
      const id = await runJob({ url: receiver.url(), events: ['started', 'completed'] });
      await receiver.until((r) => r.length >= 2);
      const [started, completed] = payloads(receiver.received);
      expect(started).toMatchObject({
        type: 'started',
        job: { id, status: 'running' },
        event: { type: 'started' },
      });
      expect(completed).toMatchObject({
        type: 'completed',
        job: { id, status: 'succeeded', result: { seed: 7 } },
        event: { type: 'succeeded', job_id: id },
      });
      expect(started.id).not.toBe(completed.id);
      expect(Date.parse(completed.created_at)).not.toBeNaN();

      const secret = deriveWebhookSecret(MASTER, OWNER);
      for (const { headers, body } of receiver.received) {
        expect(headers['content-type']).toBe('application/json');
        expect(verifySignature(headers['giraffe-signature'] as string, body, secret)).toBe(true);
        expect(
          verifySignature(headers['giraffe-signature'] as string, body, deriveWebhookSecret(MASTER, 'x')),
        ).toBe(false);
      }
      // Nothing else follows (progress was not asked for): the stopped worker has no delivery left.
      await worker.stop(0);
      expect(receiver.received).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  });

  it('retries a failed delivery with back-off until the third attempt succeeds', async () => {
    const receiver = new Receiver();
    receiver.statuses = [500, 503];
    await receiver.listen();
    try {
      const id = await runJob({ url: receiver.url(), events: ['completed'] });
      await receiver.until((r) => r.length >= 3);
      const bodies = payloads(receiver.received);
      expect(bodies.map((b) => b.type)).toEqual(['completed', 'completed', 'completed']);
      // One delivery, three attempts: the same id and body, a signature on each.
      expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
      expect(bodies[2].job).toMatchObject({ id, status: 'succeeded' });
      expect(receiver.received.map((r) => r.headers['giraffe-webhook-attempt'])).toEqual(['1', '2', '3']);
      // No attempt after the one that succeeded: the stopped worker has no delivery left.
      await worker.stop(0);
      expect(receiver.received).toHaveLength(3);
    } finally {
      await receiver.close();
    }
  });

  it('sends progress deliveries when asked, without holding the job', async () => {
    const receiver = new Receiver();
    await receiver.listen();
    try {
      await runJob({ url: receiver.url(), events: ['progress', 'completed'] });
      await receiver.until((r) => payloads(r).some((p) => p.type === 'completed'));
      const types = payloads(receiver.received).map((p) => p.type);
      expect(types.at(-1)).toBe('completed');
      expect(types.filter((t) => t !== 'progress' && t !== 'completed')).toEqual([]);
      for (const p of payloads(receiver.received).filter((x) => x.type === 'progress')) {
        expect(p.event).not.toHaveProperty('latents');
      }
    } finally {
      await receiver.close();
    }
  });
});

describe('postWebhook destination checks', () => {
  let receiver: Receiver;
  beforeEach(async () => {
    receiver = new Receiver();
    await receiver.listen();
  });
  afterEach(() => receiver.close());

  const post = (
    url: string,
    allowlist: string,
    resolve?: (host: string) => Promise<{ address: string; family: number }[]>,
  ) => postWebhook(url, '{}', {}, { allowlist: WebhookAllowlist.parse(allowlist), timeoutMs: 2000, resolve });

  it('refuses a loopback URL without the allowlist, and nothing reaches the receiver', async () => {
    const err = await post(receiver.url(), '').catch((e: unknown) => e);
    expect(isGiraffeError(err, 'GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED')).toBe(true);
    expect(receiver.received).toHaveLength(0);
  });

  it('refuses a host name that resolves to a private address, even among public ones', async () => {
    const resolve = async (): Promise<{ address: string; family: number }[]> => [
      { address: '93.184.216.34', family: 4 },
      { address: '::ffff:127.0.0.1', family: 6 },
    ];
    const err = await post(`http://hooks.example:${receiver.port}/`, '', resolve).catch((e: unknown) => e);
    expect(isGiraffeError(err, 'GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED')).toBe(true);
    expect(receiver.received).toHaveLength(0);
  });

  it('connects to the address it checked, without resolving again', async () => {
    let lookups = 0;
    const resolve = async (): Promise<{ address: string; family: number }[]> => {
      lookups += 1;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    await expect(post(`http://hooks.example:${receiver.port}/x`, 'hooks.example', resolve)).resolves.toBe(
      200,
    );
    expect(lookups).toBe(1);
    expect(receiver.received[0].headers.host).toBe(`hooks.example:${receiver.port}`);
  });

  it('does not follow redirects', async () => {
    receiver.statuses = [302];
    const err = await post(receiver.url(), '127.0.0.1').catch((e: unknown) => e);
    expect(isGiraffeError(err, 'GIRAFFE_ERR_WEBHOOK_DELIVERY_FAILED')).toBe(true);
    expect(receiver.received).toHaveLength(1);
  });

  it.each(['ftp://example.com/', 'https://user:pw@example.com/', 'not a url'])(
    'refuses the URL %s',
    async (url) => {
      const err = await post(url, '').catch((e: unknown) => e);
      expect(isGiraffeError(err, 'GIRAFFE_ERR_WEBHOOK_URL_INVALID')).toBe(true);
    },
  );
});
