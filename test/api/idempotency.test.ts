import type { NewJob } from '../../src/queue';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';

// Issue 17, item 13: an Idempotency-Key used to be claimed, then the job enqueued, then the key
// completed: a crash between those steps left a key that answered 409 "in progress" for 24 h.
// Now the key's job id is fixed when it is claimed and the enqueue itself is the idempotent step.
describe.each(['memory', 'bullmq'] as const)('Idempotency-Key on the %s driver', (kind) => {
  const prefix = testPrefix(`idem-${kind}`);
  let service: DemoService;
  beforeAll(async () => {
    service = await startDemoService({
      worker: false,
      env: kind === 'bullmq' ? { REDIS_URL, REDIS_PREFIX: prefix } : {},
    });
    // A live worker that takes no jobs: the API accepts jobs only for served models.
    await announceStandInWorker(service.driver, ['demo']);
    const redis = service.app.giraffe.redis;
    if (redis && redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    await service?.close();
    if (kind === 'bullmq') await deleteKeys(prefix);
  });
  const body = { prompt: 'exactly one giraffe', steps: 2, width: 64, height: 64, seed: 4 };
  const submit = (key: string) =>
    service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers: { 'idempotency-key': key },
      payload: body,
    });

  it('a retry after the first request died between claiming the key and enqueueing makes the job', async () => {
    // The one mock here: an API process dying mid-request cannot be caused in-process. The first
    // request's enqueue never returns, as if its process had died there.
    const queue = service.driver.queue;
    const enqueue = queue.enqueue.bind(queue);
    let crash: (err: Error) => void = () => undefined;
    let reached: () => void = () => undefined;
    const inEnqueue = new Promise<void>((resolve) => (reached = resolve));
    queue.enqueue = (_job: NewJob) =>
      new Promise((_resolve, reject) => {
        crash = reject;
        reached();
      });
    const dying = submit('crash-1');
    await inEnqueue;
    queue.enqueue = enqueue;

    const retry = await submit('crash-1');
    expect(retry.statusCode).toBe(202);
    const id = retry.json().id;
    expect(await service.driver.queue.get(id)).toMatchObject({ status: 'queued' });
    const again = await submit('crash-1');
    expect(again.json().id).toBe(id);
    expect(again.headers['idempotent-replayed']).toBe('true');

    crash(new Error('the process died'));
    await dying;
  });

  it('concurrent requests with one key make one job and all answer it', async () => {
    const before = await service.driver.queue.depth();
    const answers = await Promise.all(Array.from({ length: 6 }, () => submit('burst-1')));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(6).fill(202));
    expect(new Set(answers.map((a) => a.json().id)).size).toBe(1);
    expect(answers.filter((a) => a.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect(await service.driver.queue.depth()).toBe(before + 1);
  });
});
