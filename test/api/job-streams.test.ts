import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import sharp from 'sharp';
import { GiraffeClient, type Job, type StreamMessage } from '../../src/client';
import { MAX_SUBSCRIPTIONS } from '../../src/api/routes/multiplex-stream';
import { WorkerService } from '../../src/worker';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { writeSlowModel } from '../helpers/slow-model';
import { finalTypes, keptEvents, openSocket, readSse, RefusedUpgrade } from '../helpers/stream-clients';

// Real servers on loopback, real WebSocket and SSE clients, the real pipeline
// (the demo model, and a demo whose U-Net steps take ~300 ms), on both drivers.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-streams-'));
let slowDir: string;

beforeAll(async () => {
  slowDir = path.join(tmp, 'slow');
  await writeSlowModel(slowDir, path.join(tmp, 'data'), 300);
  // One job end to end first: jest compiles the modules a job touches on first use, which
  // would stall the first test's job for a moment and make its previews come in one burst.
  const warm = await startDemoService();
  await warm.app.inject({
    method: 'POST',
    url: '/v1/generate?wait=true',
    payload: { prompt: 'warm up', steps: 2 },
  });
  await warm.close();
}, 60_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const drivers = ['memory', 'bullmq'] as const;

/** Seqs must run on from `from` + 1 without a gap or a repeat. */
function expectContiguous(events: readonly StreamMessage[], from: number): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => from + 1 + i));
}

/** Mean absolute difference per channel value of two same-sized RGB images. */
async function distance(a: Buffer, b: Buffer, size: number): Promise<number> {
  const raw = async (img: Buffer) => sharp(img).resize(size, size).removeAlpha().raw().toBuffer();
  const [x, y] = await Promise.all([raw(a), raw(b)]);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i] - y[i]);
  return sum / x.length;
}

describe.each(drivers)('job streams: %s driver', (kind) => {
  const prefix = testPrefix(`streams-${kind}`);
  const redisEnv: Record<string, string> = kind === 'bullmq' ? { REDIS_URL, REDIS_PREFIX: prefix } : {};
  let service: DemoService;
  let worker: WorkerService | undefined;
  let base: string;
  let ws: string;
  let client: GiraffeClient;

  async function start(env: Record<string, string> = {}, withWorker = true): Promise<void> {
    service = await startDemoService({
      env: { ...redisEnv, STREAM_PING_MS: '1000', ...env },
      worker: false,
      models: { slow: slowDir },
    });
    base = await service.app.listen({ port: 0, host: '127.0.0.1' });
    ws = base.replace('http:', 'ws:');
    client = new GiraffeClient({ baseUrl: base, apiKey: env.API_KEYS?.split(',')[0] });
    if (withWorker) await startWorker();
    // Jobs queued before the real worker starts: a live worker must announce their models for the API to accept them.
    else await announceStandInWorker(service.driver, ['demo', 'slow']);
  }

  async function startWorker(): Promise<void> {
    worker = await WorkerService.start({
      driver: service.driver,
      models: [
        { id: 'demo', dir: service.demoDir },
        { id: 'slow', dir: slowDir },
      ],
      logger: pino({ level: 'silent' }),
      intraOpThreads: 1,
    });
  }

  afterEach(async () => {
    await service?.app.close();
    await worker?.stop(0);
    worker = undefined;
    await service?.close();
    if (kind === 'bullmq') await deleteKeys(prefix);
  });

  const demoJob = (extra: Record<string, unknown> = {}) =>
    client.generate({
      prompt: 'a red giraffe',
      width: 128,
      height: 128,
      steps: 16,
      scheduler: 'euler',
      seed: 5,
      ...extra,
    });
  const slowJob = (steps = 6) =>
    client.generate({
      model: 'slow',
      prompt: 'slow',
      width: 64,
      height: 64,
      steps,
      scheduler: 'euler',
      guidance_scale: 1,
      seed: 1,
    });
  const streamOf = (job: Job, query = '') =>
    `${ws}/v1/jobs/${job.id}/stream?token=${job.stream_token}${query}`;

  async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('sends a snapshot, then every event once and in order, previews that sharpen into the image, and closes with 1000', async () => {
    await start({}, false);
    const job = await demoJob({ steps: 120, width: 512, height: 512 });
    const sock = openSocket(streamOf(job, '&preview_format=png&preview_size=64'));
    const snapshot = await sock.next((m) => m.type === 'snapshot');
    expect(snapshot).toMatchObject({ seq: 1, job_id: job.id, job: { status: 'queued', position: 0 } });
    await startWorker();
    const closed = await sock.closed;
    expect(closed).toEqual({ code: 1000, reason: 'job finished' });

    const events = keptEvents(sock.messages);
    expectContiguous(events, 1);
    expect(events[0]).toMatchObject({ type: 'started', attempt: 1 });
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.map((p) => p.step)).toEqual(progress.map((_, i) => i + 1));
    expect(progress.at(-1)).toMatchObject({ step: 120, steps: 120, eta_ms: 0 });
    expect(typeof progress[0].elapsed_ms).toBe('number');
    const final = events.at(-1)!;
    expect(final).toMatchObject({
      type: 'succeeded',
      result: { images: [{ index: 0, url: `/v1/jobs/${job.id}/images/0` }] },
    });

    // Previews: PNGs of the asked size, one job-relative step each, noisy at first and the picture at the end.
    // In embedded mode the API and the worker share one thread, and the demo's 4 ms steps keep it
    // so busy that previews are mostly skipped (real steps take seconds); over Redis they flow.
    expect(sock.previews.length).toBeGreaterThanOrEqual(kind === 'bullmq' ? 3 : 2);
    for (const p of sock.previews) {
      expect(p.header).toMatchObject({ format: 'png', width: 64, height: 64, steps: 120 });
      expect(p.header.job_id).toBeUndefined();
      const meta = await sharp(p.image).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    }
    expect(sock.previews.map((p) => p.header.step)).toEqual(
      [...sock.previews.map((p) => p.header.step)].sort((a, b) => a - b),
    );
    const image = (await client.image(job.id)).data;
    expect(sock.previews.at(-1)?.header.step).toBe(120);
    const distances = await Promise.all(sock.previews.map((p) => distance(p.image, image, 64)));
    expect(distances.at(-1)!).toBeLessThan(distances[0] / 4);
    expect(distances.at(-1)!).toBeLessThan(15);
  }, 60_000);

  it('answers a finished job with its final state and a normal close, on both transports', async () => {
    await start();
    const job = await demoJob({ steps: 4 });
    await until('the job to end', async () => (await client.getJob(job.id)).status === 'succeeded');
    const sock = openSocket(streamOf(job));
    expect(await sock.closed).toEqual({ code: 1000, reason: 'job finished' });
    expect(sock.messages).toHaveLength(1);
    expect(sock.messages[0]).toMatchObject({
      type: 'snapshot',
      job: { status: 'succeeded', result: { images: [{ index: 0 }] } },
    });
    expect(sock.previews).toEqual([]);

    const sse = await readSse(`${base}/v1/jobs/${job.id}/events?token=${job.stream_token}`);
    expect(sse.status).toBe(200);
    expect(sse.contentType).toMatch(/^text\/event-stream/);
    expect(sse.events.map((e) => e.event)).toEqual(['snapshot']);
    expect(sse.events[0].message).toMatchObject({ seq: sock.messages[0].seq, job: { status: 'succeeded' } });

    // A reconnect after the final event (what EventSource does when a stream ends): nothing more,
    // at once. WebSocket: a normal close with no message; SSE: 204, which stops EventSource retrying.
    const finalSeq = sock.messages[0].seq!;
    for (const after of [finalSeq, finalSeq + 5]) {
      const resumed = openSocket(streamOf(job, `&after=${after}`));
      expect(await resumed.closed).toEqual({ code: 1000, reason: 'job finished' });
      expect(resumed.messages).toEqual([]);
    }
    const reconnect = await readSse(`${base}/v1/jobs/${job.id}/events?token=${job.stream_token}`, {
      'last-event-id': String(finalSeq),
    });
    expect(reconnect.status).toBe(204);
    expect(reconnect.events).toEqual([]);
    // One before the end still gets the final event.
    const before = await readSse(`${base}/v1/jobs/${job.id}/events?token=${job.stream_token}`, {
      'last-event-id': String(finalSeq - 1),
    });
    expect(before.status).toBe(200);
    expect(before.events.map((e) => e.event)).toEqual(['succeeded']);
  }, 60_000);

  it('joins a running job: its snapshot, its latest preview, then the events after the snapshot', async () => {
    await start();
    const job = await slowJob(6);
    await until('two steps', async () => ((await client.getJob(job.id)).progress?.step ?? 0) >= 2);
    const sock = openSocket(streamOf(job, '&preview_format=webp'));
    const snapshot = await sock.next((m) => m.type === 'snapshot');
    expect(snapshot.job).toMatchObject({ status: 'running', progress: { steps: 6 } });
    await sock.closed;
    expect(sock.previews.length).toBeGreaterThanOrEqual(1);
    expect((await sharp(sock.previews[0].image).metadata()).format).toBe('webp');
    const events = keptEvents(sock.messages);
    expectContiguous(events, snapshot.seq!);
    expect(events.at(-1)?.type).toBe('succeeded');
    // Everything between the snapshot and the end: the remaining steps, none twice.
    const steps = events.filter((e) => e.type === 'progress').map((e) => e.step as number);
    expect(steps).toEqual([...new Set(steps)]);
    expect(steps.at(-1)).toBe(6);
  }, 60_000);

  it('resumes after a dropped connection with exactly the missed events (WebSocket ?after=, SSE Last-Event-ID)', async () => {
    await start();
    const job = await slowJob(7);
    const first = openSocket(streamOf(job, '&previews=none'));
    await first.next((m) => m.type === 'progress' && m.step === 2);
    first.socket.terminate();
    const seen = keptEvents(first.messages);
    const lastSeq = seen.at(-1)!.seq!;
    await until('a step while away', async () => ((await client.getJob(job.id)).progress?.step ?? 0) >= 4);

    // SSE resumes from the same point, with the header EventSource sends.
    const sseResume = readSse(`${base}/v1/jobs/${job.id}/events?token=${job.stream_token}&previews=none`, {
      'last-event-id': String(lastSeq),
    });
    const second = openSocket(streamOf(job, `&previews=none&after=${lastSeq}`));
    await second.closed;
    const resumed = keptEvents(second.messages);
    expect(second.messages[0].type).not.toBe('snapshot');
    expectContiguous(resumed, lastSeq);
    expect(resumed.at(-1)?.type).toBe('succeeded');
    // Together: every event from the first, once.
    const all = [...keptEvents(first.messages).slice(0, seen.length), ...resumed];
    expectContiguous(all, keptEvents(first.messages)[0].seq! - 1);

    const sse = await sseResume;
    const sseEvents = sse.events.filter((e) => e.id !== undefined);
    expect(sseEvents.map((e) => Number(e.id))).toEqual(resumed.map((e) => e.seq));
    expect(sseEvents.map((e) => e.event)).toEqual(resumed.map((e) => e.type));
  }, 60_000);

  it('streams the cancel of a running job and closes', async () => {
    await start();
    const job = await slowJob(20);
    const sock = openSocket(streamOf(job, '&previews=none'));
    await sock.next((m) => m.type === 'progress');
    const canceled = await client.cancel(job.id);
    // The answer waits (up to 5 s) for the running job to act on it: canceled by then, or still stopping.
    expect(['canceled', 'cancel_requested']).toContain(canceled.cancel);
    expect((await sock.closed).code).toBe(1000);
    expect(keptEvents(sock.messages).at(-1)).toMatchObject({ type: 'canceled', job_id: job.id });
    expect(keptEvents(sock.messages).filter((e) => finalTypes.has(e.type))).toHaveLength(1);
  }, 60_000);

  it('sends queue positions as they move', async () => {
    await start();
    const blocker = await slowJob(8);
    const waiting = [await slowJob(3), await slowJob(3)];
    const sock = openSocket(streamOf(waiting[1], '&previews=none'));
    const snapshot = await sock.next((m) => m.type === 'snapshot');
    expect(snapshot.job).toMatchObject({ status: 'queued' });
    const before = (snapshot.job as { position: number }).position;
    expect(before).toBeGreaterThanOrEqual(1);
    await sock.next(
      (m) => m.type === 'queued' && m.update === true && (m.position as number) < before,
      30_000,
    );
    await sock.closed;
    expect(keptEvents(sock.messages).at(-1)?.type).toBe('succeeded');
    await client.getJob(blocker.id);
  }, 60_000);

  it('refuses missing, forged, foreign and expired tokens, and other keys', async () => {
    await start({ API_KEYS: 'key-one,key-two' });
    const job = await demoJob({ steps: 2 });
    const other = await demoJob({ steps: 2 });
    const refusal = async (url: string, headers: Record<string, string> = {}) => {
      const sock = openSocket(url, headers);
      const err = await sock.opened.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RefusedUpgrade);
      const { status, body } = err as RefusedUpgrade;
      return { status, problem: JSON.parse(body) as { code: string; detail: string } };
    };
    const plain = `${ws}/v1/jobs/${job.id}/stream`;
    expect(await refusal(plain)).toMatchObject({
      status: 401,
      problem: { code: 'GIRAFFE_ERR_AUTH_REQUIRED' },
    });
    expect(await refusal(`${plain}?token=${job.stream_token}x`)).toMatchObject({
      status: 401,
      problem: { detail: 'stream token is not valid' },
    });
    expect(await refusal(`${plain}?token=${other.stream_token}`)).toMatchObject({
      status: 401,
      problem: { detail: 'stream token is for another job' },
    });
    const expired = service.app.giraffe.streamTokens.issue(job.id, 'unused', Date.now() - 2 * 3600_000).token;
    expect(await refusal(`${plain}?token=${expired}`)).toMatchObject({
      status: 401,
      problem: { detail: 'stream token has expired' },
    });
    expect(await refusal(plain, { authorization: 'Bearer key-two' })).toMatchObject({
      status: 404,
      problem: { code: 'GIRAFFE_ERR_JOB_NOT_FOUND' },
    });
    const sse = await readSse(`${base}/v1/jobs/${job.id}/events`);
    expect(sse.status).toBe(401);
    expect(JSON.parse(sse.body!)).toMatchObject({ code: 'GIRAFFE_ERR_AUTH_REQUIRED' });

    // The owner's key and the job's own token both open it.
    const byKey = openSocket(plain, { authorization: 'Bearer key-one' });
    expect((await byKey.next((m) => m.type === 'snapshot')).job_id).toBe(job.id);
    const byToken = openSocket(`${plain}?token=${job.stream_token}`);
    expect((await byToken.next((m) => m.type === 'snapshot')).job_id).toBe(job.id);
    byKey.socket.close();
    byToken.socket.close();
  }, 60_000);

  it('answers plain HTTP on the WebSocket route with 426', async () => {
    await start({}, false);
    const job = await demoJob();
    const response = await fetch(`${base}/v1/jobs/${job.id}/stream?token=${job.stream_token}`);
    expect(response.status).toBe(426);
    expect(await response.json()).toMatchObject({ code: 'GIRAFFE_ERR_UPGRADE_REQUIRED' });
    const bad = await fetch(`${base}/v1/jobs/${job.id}/events?token=${job.stream_token}&previews=sometimes`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'GIRAFFE_ERR_REQUEST_INVALID' });
  }, 30_000);

  it('drops previews for a client that does not read, then disconnects it; others are served', async () => {
    // Pings far apart: the stuck client is not cut for a missed pong. Its previews stop once it leaves
    // 1 KiB unread; it is let go when the job ends (its close handshake is never answered). The close
    // limit is above one preview frame: a single frame larger than it is dropped, not a reason to cut
    // off a client that reads (issue 17, item 6, tested in stream-endings.test.ts).
    await start(
      { STREAM_PREVIEW_DROP_BYTES: '1024', STREAM_CLOSE_BYTES: '8388608', STREAM_PING_MS: '600000' },
      false,
    );
    const job = await demoJob({ width: 512, height: 512, steps: 40 });
    // A raw socket that completes the WebSocket handshake and then never reads again.
    const url = new URL(streamOf(job, '&preview_format=png&preview_size=512'));
    const raw = net.connect(Number(url.port), url.hostname);
    await new Promise((r) => raw.once('connect', r));
    raw.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await new Promise((r) => raw.once('data', r));
    raw.pause();
    await until(
      'the server to count it',
      async () => service.app.giraffe.streams.connections.count.websocket === 1,
    );
    const reader = openSocket(streamOf(job, '&preview_format=png&preview_size=512'));
    await reader.next((m) => m.type === 'snapshot');
    await startWorker();
    await reader.closed;
    expect(keptEvents(reader.messages).at(-1)?.type).toBe('succeeded');
    // The stuck client is gone from the server, not buffered without bound.
    await until(
      'the server to drop it',
      async () => service.app.giraffe.streams.connections.count.websocket === 0,
      15_000,
    );
    // It lost previews before it was let go, and the metrics say so.
    const metrics = await (await client.fetch('/metrics')).text();
    const previews = (outcome: string) =>
      Number(
        new RegExp(`^giraffe_stream_previews_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(
          metrics,
        )?.[1],
      );
    expect(previews('dropped')).toBeGreaterThan(0);
    expect(previews('sent')).toBeGreaterThan(0);
    raw.destroy();
  }, 90_000);

  it('no event is lost or repeated between the snapshot and the live feed, whenever a client joins', async () => {
    await start();
    const job = await demoJob({ steps: 60, width: 256, height: 256 });
    // Clients join at staggered moments while the job runs: each sees a consistent snapshot and every event after it.
    const socks = [];
    for (let i = 0; i < 12; i++) {
      socks.push(openSocket(streamOf(job, '&previews=none')));
      await new Promise((r) => setTimeout(r, 15));
    }
    for (const sock of socks) {
      await sock.closed;
      const snapshot = sock.messages[0];
      expect(snapshot.type).toBe('snapshot');
      const events = keptEvents(sock.messages);
      expectContiguous(events, snapshot.seq!);
      const lastType = events.at(-1)?.type ?? (snapshot.job as { status: string }).status;
      expect(lastType).toBe('succeeded');
    }
  }, 60_000);

  it('keeps a subscription slot while the job is read: a burst cannot subscribe twice or past the limit', async () => {
    // More waiting jobs from one client than MAX_JOBS_PER_KEY allows by default.
    await start({ MAX_JOBS_PER_KEY: '1000' }, false);
    const jobs: Job[] = [];
    for (let i = 0; i <= MAX_SUBSCRIPTIONS; i++) jobs.push(await demoJob({ steps: 2, seed: i }));
    const sock = openSocket(`${ws}/v1/stream`);
    await sock.opened;
    // One burst: the same job three times, then one more job than a socket may follow.
    const frames = [jobs[0], jobs[0], ...jobs].map((job) => ({
      op: 'subscribe',
      job_id: job.id,
      previews: 'none',
    }));
    for (const frame of frames) sock.socket.send(JSON.stringify(frame));
    const answers = () => sock.messages.filter((m) => m.type === 'subscribed' || m.type === 'error');
    await until('an answer to every subscribe', async () => answers().length === frames.length);
    const subscribed = answers().filter((m) => m.type === 'subscribed');
    expect(subscribed).toHaveLength(MAX_SUBSCRIPTIONS);
    expect(new Set(subscribed.map((m) => m.job_id)).size).toBe(MAX_SUBSCRIPTIONS);
    const refusals = answers()
      .filter((m) => m.type === 'error')
      .map((m) => m.message as string);
    expect(refusals.filter((m) => m.startsWith('already subscribed'))).toHaveLength(2);
    expect(refusals.filter((m) => m.startsWith(`at most ${MAX_SUBSCRIPTIONS}`))).toHaveLength(1);
    sock.socket.close();
  }, 60_000);

  it('multiplexes several jobs on one socket, and answers bad messages with error frames', async () => {
    await start({}, false);
    const a = await demoJob({ steps: 6 });
    const b = await demoJob({ steps: 6, seed: 9 });
    const sock = openSocket(`${ws}/v1/stream`);
    await sock.opened;
    const send = (m: unknown) => sock.socket.send(typeof m === 'string' ? m : JSON.stringify(m));
    send({ op: 'subscribe', job_id: a.id, preview_format: 'jpeg', preview_size: 32 });
    send({ op: 'subscribe', job_id: b.id, previews: 'none' });
    send('{not json');
    send({ op: 'dance' });
    send({ op: 'subscribe', job_id: 'no-such-job' });
    sock.socket.send(Buffer.from([1, 2, 3]));
    await sock.next((m) => m.type === 'subscribed' && m.job_id === b.id);
    const errors = () => sock.messages.filter((m) => m.type === 'error');
    await until('four error frames', async () => errors().length === 4);
    expect(errors().map((e) => e.code)).toEqual(
      expect.arrayContaining(['GIRAFFE_ERR_STREAM_MESSAGE_INVALID', 'GIRAFFE_ERR_JOB_NOT_FOUND']),
    );
    expect(errors().find((e) => e.code === 'GIRAFFE_ERR_JOB_NOT_FOUND')?.job_id).toBe('no-such-job');

    await startWorker();
    for (const job of [a, b]) {
      await sock.next((m) => m.type === 'succeeded' && m.job_id === job.id);
      await sock.next((m) => m.type === 'unsubscribed' && m.job_id === job.id);
      const own = sock.messages.filter((m) => m.job_id === job.id);
      expect(own[0].type).toBe('subscribed');
      expect(own[1]).toMatchObject({ type: 'snapshot', job: { id: job.id } });
      expectContiguous(keptEvents(own), own[1].seq!);
    }
    // Previews name their job; b asked for none.
    expect(sock.previews.length).toBeGreaterThan(0);
    expect(new Set(sock.previews.map((p) => p.header.job_id))).toEqual(new Set([a.id]));
    expect(sock.previews[0].header).toMatchObject({ format: 'jpeg', width: 32, height: 32 });
    expect(sock.socket.readyState).toBe(sock.socket.OPEN);

    // A frame over the size limit closes that socket (1009); the server serves on.
    sock.socket.send('x'.repeat(70 * 1024));
    expect((await sock.closed).code).toBe(1009);
    const again = openSocket(`${ws}/v1/stream`);
    await again.opened;
    again.socket.send(JSON.stringify({ op: 'subscribe', job_id: a.id }));
    expect(await again.next((m) => m.type === 'snapshot')).toMatchObject({ job: { status: 'succeeded' } });
    again.socket.close();
  }, 60_000);
});
