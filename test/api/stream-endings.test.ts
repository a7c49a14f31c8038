import pino from 'pino';
import { MAX_PREVIEW_VARIANTS } from '../../src/api/streams/stream-hub';
import { WorkerService } from '../../src/worker';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { until } from '../helpers/processes';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { openSocket, readSse, RefusedUpgrade } from '../helpers/stream-clients';

// Issue 17: streams must end. A client that resumes past the latest event, or follows a job whose
// events (or whole record) vanished, used to wait forever; one preview frame bigger than
// STREAM_CLOSE_BYTES cut off a client that reads everything.
describe.each(['memory', 'bullmq'] as const)('stream endings: %s driver', (kind) => {
  const prefix = testPrefix(`endings-${kind}`);
  let service: DemoService;
  let base: string;
  let ws: string;

  beforeAll(async () => {
    service = await startDemoService({
      env: { ...(kind === 'bullmq' ? { REDIS_URL, REDIS_PREFIX: prefix } : {}), STREAM_PING_MS: '300' },
      worker: false,
    });
    // A live worker that takes no jobs: the API accepts jobs only for served models.
    await announceStandInWorker(service.driver, ['demo']);
    base = await service.app.listen({ port: 0, host: '127.0.0.1' });
    ws = base.replace('http:', 'ws:');
  });
  afterAll(async () => {
    await service?.close();
    if (kind === 'bullmq') await deleteKeys(prefix);
  });

  const queueJob = async (): Promise<{ id: string; stream_token: string }> => {
    const res = await service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'a patient giraffe', steps: 2, width: 64, height: 64 },
    });
    expect(res.statusCode).toBe(202);
    return res.json();
  };

  // Item 8: `?after=` beyond the latest event skipped every event to come, the final one included.
  it('a WebSocket resumed past the latest event gets a snapshot, then the job to its end', async () => {
    const job = await queueJob();
    const client = openSocket(`${ws}/v1/jobs/${job.id}/stream?after=50`);
    const snapshot = await client.next((m) => m.type === 'snapshot');
    expect(snapshot).toMatchObject({ resync: true, job: { status: 'queued' } });
    expect(snapshot.seq).toBeLessThan(50);
    expect((await service.app.inject({ method: 'DELETE', url: `/v1/jobs/${job.id}` })).statusCode).toBe(200);
    expect(await client.closed).toMatchObject({ code: 1000 });
    expect(client.messages.map((m) => m.type)).toEqual(['snapshot', 'canceled']);
  });

  it('an SSE stream resumed past the latest event gets a snapshot, then the job to its end', async () => {
    const job = await queueJob();
    const listeners = service.app.giraffe.streams.hub.size.listeners;
    const reading = readSse(`${base}/v1/jobs/${job.id}/events?after=50`);
    await until(
      'the SSE client to follow the job',
      () => service.app.giraffe.streams.hub.size.listeners > listeners,
    );
    await service.app.inject({ method: 'DELETE', url: `/v1/jobs/${job.id}` });
    const { status, events } = await reading;
    expect(status).toBe(200);
    expect(events.map((e) => e.event)).toEqual(['snapshot', 'canceled']);
    expect(events[0].message).toMatchObject({ resync: true });
  });

  it('an unknown job is a 404, on WebSocket and SSE', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const client = openSocket(`${ws}/v1/jobs/${id}/stream`);
    const refused = await client.opened.catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RefusedUpgrade);
    expect((refused as RefusedUpgrade).status).toBe(404);
    expect((await readSse(`${base}/v1/jobs/${id}/events?after=3`)).status).toBe(404);
  });

  if (kind === 'bullmq') {
    // What a Redis that restarted empty looks like to a connected client: the job and its events are gone.
    it('a stream whose job vanished from Redis is closed with 4404', async () => {
      const job = await queueJob();
      const client = openSocket(`${ws}/v1/jobs/${job.id}/stream`);
      await client.next((m) => m.type === 'snapshot');
      const multiplexed = openSocket(`${ws}/v1/stream`);
      await multiplexed.opened;
      multiplexed.socket.send(JSON.stringify({ op: 'subscribe', job_id: job.id, token: job.stream_token }));
      await multiplexed.next((m) => m.type === 'snapshot');
      await deleteKeys(prefix);
      expect(await client.closed).toMatchObject({ code: 4404 });
      // On a multiplexed socket only that subscription ends; the socket stays.
      const ended = await multiplexed.next((m) => m.type === 'unsubscribed');
      expect(ended).toMatchObject({ job_id: job.id, reason: expect.stringMatching(/no longer exists/) });
      expect(multiplexed.socket.readyState).toBe(multiplexed.socket.OPEN);
      multiplexed.socket.close();
    });
  }
});

// Item 6: STREAM_CLOSE_BYTES bounds what a client leaves unread, not the size of one frame.
it('a preview frame larger than STREAM_CLOSE_BYTES is dropped; a client that reads keeps its stream', async () => {
  const service = await startDemoService({
    env: { STREAM_CLOSE_BYTES: '4096', STREAM_PREVIEW_DROP_BYTES: '1024' },
    worker: false,
  });
  // A live worker that takes no jobs: the API accepts jobs only for served models.
  await announceStandInWorker(service.driver, ['demo']);
  let worker: WorkerService | undefined;
  try {
    const base = await service.app.listen({ port: 0, host: '127.0.0.1' });
    const created = await service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'a large preview', steps: 4, width: 512, height: 512 },
    });
    const { id } = created.json();
    const client = openSocket(
      `${base.replace('http:', 'ws:')}/v1/jobs/${id}/stream?preview_format=png&preview_size=512`,
    );
    await client.next((m) => m.type === 'snapshot');
    // The worker starts once the client follows the job, so every step's preview is offered to it.
    worker = await WorkerService.start({
      driver: service.driver,
      models: [{ id: 'demo', dir: service.demoDir }],
      logger: pino({ level: 'silent' }),
    });
    expect(await client.closed).toMatchObject({ code: 1000 });
    expect(client.messages.map((m) => m.type)).toContain('succeeded');
    expect(client.messages.filter((m) => m.type === 'progress').length).toBeGreaterThan(0);
    expect(service.app.giraffe.streams.hub.previews.dropped).toBeGreaterThan(0);
    expect(client.previews).toHaveLength(0);
  } finally {
    await service.close();
    await worker?.stop(0);
  }
}, 60_000);

// Item 1: each distinct preview format and size cost an encode per step; a probe asking for dozens
// made a 2 s job take 12 s. A job's previews are made in at most MAX_PREVIEW_VARIANTS variants.
it('makes a job previews in at most MAX_PREVIEW_VARIANTS variants; other clients get the nearest', async () => {
  const service = await startDemoService({ worker: false });
  // A live worker that takes no jobs: the API accepts jobs only for served models.
  await announceStandInWorker(service.driver, ['demo']);
  let worker: WorkerService | undefined;
  try {
    const base = await service.app.listen({ port: 0, host: '127.0.0.1' });
    const created = await service.app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'many previews', steps: 3, width: 512, height: 512 },
    });
    const { id } = created.json();
    const sizes = [64, 80, 96, 112, 128, 144, 160, 176, 192, 208];
    const clients = sizes.map((size) =>
      openSocket(
        `${base.replace('http:', 'ws:')}/v1/jobs/${id}/stream?preview_format=jpeg&preview_size=${size}`,
      ),
    );
    await Promise.all(clients.map((c) => c.next((m) => m.type === 'snapshot')));
    worker = await WorkerService.start({
      driver: service.driver,
      models: [{ id: 'demo', dir: service.demoDir }],
      logger: pino({ level: 'silent' }),
    });
    await Promise.all(clients.map((c) => c.closed));
    const variants = new Set(
      clients.flatMap((c) => c.previews.map((p) => `${p.header.format}:${p.header.width}`)),
    );
    expect(variants.size).toBeGreaterThan(0);
    expect(variants.size).toBeLessThanOrEqual(MAX_PREVIEW_VARIANTS);
    // Everyone still gets previews: the nearest variant made (the 208 client gets the largest).
    for (const client of clients) expect(client.previews.length).toBeGreaterThan(0);
    const widths = [...variants].map((v) => Number(v.split(':')[1]));
    expect(clients.at(-1)!.previews.at(-1)!.header.width).toBe(Math.max(...widths));
  } finally {
    await service.close();
    await worker?.stop(0);
  }
}, 60_000);
