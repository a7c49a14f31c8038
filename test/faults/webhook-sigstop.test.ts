import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { JobEvent } from '../../src/jobs';
import { resolveRequest } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { killAll, readyWorkerId, startGiraffe, until, type Child } from '../helpers/processes';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { writeSlowModel } from '../helpers/slow-model';

// Issue 17, item 7: a worker stopped (SIGSTOP) mid-job loses it to another worker, which ends it
// and sends `completed`; continued (SIGCONT), the first worker used to send `completed` as well.
// One delivery per job and event: the attempt that ended the job sends it.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-sigstop-'));
const prefix = testPrefix('sigstop');
let driver: QueueDriver;
let slowDir: string;
const deliveries: { id: string; type: string; attempt: string }[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    const payload = JSON.parse(body) as { id: string; type: string };
    deliveries.push({ ...payload, attempt: String(req.headers['giraffe-webhook-attempt']) });
    res.end('ok');
  });
});

function startWorker(): Child {
  return startGiraffe(['worker', '--model', slowDir], {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    ORT_INTRA_OP_THREADS: '1',
    JOB_LOCK_MS: '2000',
    JOB_MAX_ATTEMPTS: '5',
    WEBHOOK_SECRET: 'webhook-master-secret-123',
    WEBHOOK_ALLOWLIST: '127.0.0.1',
    LOG_LEVEL: 'info',
  });
}

beforeAll(async () => {
  slowDir = path.join(tmp, 'models', 'slow');
  await writeSlowModel(slowDir, path.join(tmp, 'data'), 250);
  driver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir: path.join(tmp, 'data') });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
}, 60_000);

afterAll(async () => {
  await killAll();
  await driver?.close();
  await deleteKeys(prefix);
  receiver.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('sends one completed webhook when a stopped worker comes back after another ended its job', async () => {
  const first = startWorker();
  const firstId = await readyWorkerId(first);
  const events: JobEvent[] = [];
  const request = resolveRequest(
    { prompt: 'a stopped giraffe', steps: 10, width: 64, height: 64, scheduler: 'euler', seed: 1 },
    { size: 64, scheduler: 'euler' },
  );
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const id = randomUUID();
  // Subscribed before the job exists: not even its first event can be missed.
  const stop = await driver.events.subscribe(id, (e) => {
    if (e.type !== 'preview') events.push(e);
  });
  await driver.queue.enqueue({ id, model: 'slow', request, webhook: { url, events: ['completed'] } });
  const next = (test: (e: JobEvent) => boolean) => until('the job event', () => events.find(test), 60_000);

  await next((e) => e.type === 'progress' && e.step >= 2);
  expect(events.find((e) => e.type === 'started')).toMatchObject({ worker: firstId });
  first.process.kill('SIGSTOP');
  const second = startWorker();
  const secondId = await readyWorkerId(second);
  await next((e) => e.type === 'succeeded');
  expect(events.filter((e) => e.type === 'started').at(-1)).toMatchObject({ worker: secondId });
  await until('the completed delivery', () => deliveries.some((d) => d.type === 'completed'), 30_000);

  first.process.kill('SIGCONT');
  // The first worker reads what happened while it was stopped, then either stands down (and says so)
  // or, as it used to, sends a second `completed`.
  await until(
    'the first worker to stand down or deliver again',
    () =>
      /another attempt (took|ended) the job/.test(first.output()) ||
      deliveries.filter((d) => d.type === 'completed').length > 1,
    60_000,
  );
  const completed = deliveries.filter((d) => d.type === 'completed');
  expect(completed).toHaveLength(1);
  await stop();
}, 180_000);
