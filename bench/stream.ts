/**
 * Stream preview delivery: how long a preview takes from a worker's
 * `events.publishPreview` to a WebSocket client's `message` event, with 1,
 * 100 and 1,000 clients following one running job on loopback, and the API
 * process's memory at each; against raw Redis pub/sub (a PUBLISH of the same
 * size to a plain ioredis subscriber) measured in the same run.
 *
 * Three kinds of process, so no two of them share an event loop:
 * - the API: `giraffe serve` from the built CLI on Redis (distributed mode,
 *   no worker), its open-files limit raised to the hard limit;
 * - this process: the worker side. It submits a 512×512 job over HTTP,
 *   claims it with a bullmq-driver consumer whose handler holds it `running`,
 *   and publishes 64×64 RGB previews (what a worker's latent preview is)
 *   through the driver's `events.publishPreview` at `--rate` per second,
 *   each with its `step` as a sequence number and its publish time kept;
 * - `--client-procs` subscriber processes (`lib/stream-subscribers.ts`) that
 *   hold the sockets, asking `preview_size=256&preview_format=jpeg` (so the
 *   API scales and encodes each preview, once for all clients), decode each
 *   frame's header and note its arrival.
 * The latency of a preview to a client is its arrival time minus its publish
 * time (both `performance.timeOrigin + performance.now()`, comparable across
 * processes on one machine). A subscriber process with hundreds of sockets
 * reads their frames one after another, so its own queueing is part of what
 * is measured; more processes spread it (on 2 cores they also compete with
 * the API for CPU).
 *
 *   npm run bench:stream [-- --seconds 10 --rate 10 --levels 1,100,1000 --client-procs 4 --json FILE]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import type { JobResult } from '../dist/jobs';
import { createQueueDriver } from '../dist/queue';
import { announceStandInWorker } from '../test/helpers/stand-in-worker';
import { atMost, writeBenchResult, type BenchFigure } from './lib/bench-results';
import { deleteKeys, REDIS_URL } from './lib/bench-redis';
import { endProcess } from './lib/end-process';
import { giraffeBin, rssBytes } from './lib/processes';
import type { SubscriberCommand, SubscriberReply } from './lib/stream-subscribers';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '10' },
    levels: { type: 'string', default: '1,100,1000' },
    'client-procs': { type: 'string', default: '4' },
    json: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const LEVELS = values.levels.split(',').map(Number);
const CLIENT_PROCS = Math.max(1, Number(values['client-procs']));
const TARGET_MS = 50;
const PREVIEW_SIDE = 64;
/** Previews published before each measured window, not counted: connections and caches settle. */
const WARMUP = 10;

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One subscriber process, answering each command in turn. */
class Subscribers {
  readonly #child: ChildProcess;
  #pending: ((reply: SubscriberReply) => void)[] = [];

  constructor() {
    this.#child = fork(path.join(__dirname, 'lib', 'stream-subscribers.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child.on('message', (reply: SubscriberReply) => this.#pending.shift()?.(reply));
  }

  send<T extends SubscriberReply['op']>(
    command: SubscriberCommand,
  ): Promise<Extract<SubscriberReply, { op: T }>> {
    return new Promise((resolve) => {
      this.#pending.push((reply) => resolve(reply as Extract<SubscriberReply, { op: T }>));
      this.#child.send(command);
    });
  }

  stop(): void {
    this.#child.disconnect();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Latencies {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Median over previews of the first subscriber's latency: the path without the fan-out to the rest. */
  readonly first: number;
  /** Previews received over previews expected (subscribers × published). */
  readonly delivered: number;
}

/** Latencies of the previews numbered in `window`, from every subscriber process's samples. */
function latencies(
  replies: readonly Extract<SubscriberReply, { op: 'samples' }>[],
  published: ReadonlyMap<number, number>,
  window: readonly number[],
  subscribers: number,
): Latencies {
  const measured = new Set(window);
  const all: number[] = [];
  const first = new Map<number, number>();
  for (const reply of replies) {
    reply.seqs.forEach((seq, i) => {
      const at = published.get(seq);
      if (at === undefined || !measured.has(seq)) return;
      const latency = reply.times[i] - at;
      all.push(latency);
      first.set(seq, Math.min(first.get(seq) ?? Infinity, latency));
    });
  }
  all.sort((a, b) => a - b);
  return {
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all.at(-1) ?? NaN,
    first: percentile(
      [...first.values()].sort((a, b) => a - b),
      50,
    ),
    delivered: all.length / (subscribers * window.length),
  };
}

/** Publishes `count` times at `RATE` per second on a fixed schedule (no drift); returns the sequence numbers. */
async function publishAtRate(
  count: number,
  first: number,
  publish: (seq: number) => Promise<void>,
): Promise<number[]> {
  const seqs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
    seqs.push(first + i);
    await publish(first + i);
  }
  return seqs;
}

/** A 64×64 RGB gradient that shifts with the step, so each preview encodes to a different image. */
function previewRgb(step: number): Buffer {
  const rgb = Buffer.alloc(PREVIEW_SIDE * PREVIEW_SIDE * 3);
  for (let y = 0; y < PREVIEW_SIDE; y++) {
    for (let x = 0; x < PREVIEW_SIDE; x++) {
      const i = (y * PREVIEW_SIDE + x) * 3;
      rgb[i] = (x * 4 + step) & 0xff;
      rgb[i + 1] = (y * 4 + step * 3) & 0xff;
      rgb[i + 2] = ((x + y) * 2) & 0xff;
    }
  }
  return rgb;
}

/** `giraffe serve` through a shell that first raises its open-files limit to the hard limit. */
function startServe(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(
    'sh',
    [
      '-c',
      'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"',
      process.execPath,
      giraffeBin,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
    ],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-50_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

async function listening(serve: { child: ChildProcess; output: () => string }): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.output());
    if (match) return match[1];
    if (serve.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`giraffe serve did not start:\n${serve.output()}`);
    }
    await sleep(50);
  }
}

/** The API process's V8 heap in use, from its Prometheus metrics. */
async function heapUsed(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^giraffe_nodejs_heap_size_used_bytes\s+(\S+)/m.exec(text)?.[1] ?? NaN);
}

interface Level {
  readonly subscribers: number;
  readonly latency: Latencies;
  readonly rss: number;
  readonly heap: number;
  readonly openErrors: readonly string[];
  readonly unexpectedCloses: number;
}

async function main(): Promise<void> {
  const prefix = `{giraffe-bench-stream-${randomBytes(3).toString('hex')}}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-stream-'));
  const procs = Array.from({ length: CLIENT_PROCS }, () => new Subscribers());
  const serve = startServe({
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: '1000000',
    // One client submits every job: the per-key job limit would refuse most of them.
    MAX_JOBS_PER_KEY: '1000000',
  });
  const driver = createQueueDriver({ redisUrl: REDIS_URL, prefix });
  const publisher = new Redis(REDIS_URL);
  let finishJob: (result: JobResult) => void = () => undefined;
  const consumer = driver.consume(
    'demo',
    async () => new Promise<JobResult>((resolve) => (finishJob = resolve)),
    { workerId: 'bench-stream' },
  );
  // This process's consumer is the worker: announced, so the API takes jobs for the model.
  await announceStandInWorker(driver, ['demo'], 'bench-stream');
  try {
    const base = await listening(serve);
    const serverPid = serve.child.pid!;

    // Raw Redis pub/sub: a message the size of a preview's RGB, to one plain subscriber in a subscriber process.
    const channel = `${prefix}raw`;
    await procs[0].send<'subscribed'>({ op: 'redis', url: REDIS_URL, channel });
    const rawPublished = new Map<number, number>();
    const payload = Buffer.alloc(4 + PREVIEW_SIDE * PREVIEW_SIDE * 3, 7);
    const rawPublish = async (seq: number) => {
      payload.writeUInt32BE(seq, 0);
      rawPublished.set(seq, now());
      await publisher.publish(channel, payload);
    };
    await publishAtRate(WARMUP, 0, rawPublish);
    const rawWindow = await publishAtRate(SECONDS * RATE, WARMUP, rawPublish);
    await sleep(500);
    const raw = latencies([await procs[0].send<'samples'>({ op: 'collect' })], rawPublished, rawWindow, 1);
    await procs[0].send<'closed'>({ op: 'close' });

    // The job: submitted over HTTP like any client's, claimed and held `running` by this process's consumer.
    const created = await fetch(`${base}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a giraffe watched by many', steps: 20, width: 512, height: 512 }),
    });
    if (created.status !== 202) throw new Error(`submit: ${created.status} ${await created.text()}`);
    const job = (await created.json()) as { id: string; stream_token: string };
    for (let i = 0; ; i++) {
      if ((await driver.queue.get(job.id))?.status === 'running') break;
      if (i > 300) throw new Error('the job never started');
      await sleep(100);
    }
    const url =
      `${base.replace(/^http/, 'ws')}/v1/jobs/${job.id}/stream?token=${encodeURIComponent(job.stream_token)}` +
      '&preview_size=256&preview_format=jpeg';
    const published = new Map<number, number>();
    let step = 1;
    const publishPreview = async (seq: number) => {
      const rgb = previewRgb(seq);
      published.set(seq, now());
      await driver.events.publishPreview({
        type: 'preview',
        job_id: job.id,
        step: seq,
        // Never the last step: the last one's preview is special-cased (held before the final event).
        steps: 0xffff,
        width: PREVIEW_SIDE,
        height: PREVIEW_SIDE,
        rgb,
        at: new Date().toISOString(),
      });
    };
    const idle = { rss: rssBytes(serverPid) ?? NaN, heap: await heapUsed(base) };

    const levels: Level[] = [];
    for (const subscribers of LEVELS) {
      const shares = procs.map(
        (_, i) => Math.floor(subscribers / procs.length) + (i < subscribers % procs.length ? 1 : 0),
      );
      const opened = await Promise.all(
        procs.map((p, i) => (shares[i] > 0 ? p.send<'opened'>({ op: 'open', url, count: shares[i] }) : null)),
      );
      const openErrors = opened.flatMap((o) => o?.errors ?? []);
      const ok = opened.reduce((n, o) => n + (o?.ok ?? 0), 0);
      await publishAtRate(WARMUP, step, publishPreview);
      step += WARMUP;
      const window = await publishAtRate(SECONDS * RATE, step, publishPreview);
      step += window.length;
      await sleep(1000);
      const samples = await Promise.all(procs.map((p) => p.send<'samples'>({ op: 'collect' })));
      const rss = rssBytes(serverPid) ?? NaN;
      const heap = await heapUsed(base);
      await Promise.all(procs.map((p) => p.send<'closed'>({ op: 'close' })));
      const level: Level = {
        subscribers,
        latency: latencies(samples, published, window, ok),
        rss,
        heap,
        openErrors,
        unexpectedCloses: samples.reduce((n, s) => n + s.unexpectedCloses.length, 0),
      };
      levels.push(level);
      console.error(
        `${subscribers} subscribers (${ok} open): p50 ${level.latency.p50.toFixed(1)} ms, p99 ${level.latency.p99.toFixed(1)} ms, ` +
          `delivered ${(level.latency.delivered * 100).toFixed(1)} %, RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
      );
      // Let the server drop the closed sockets before the next level.
      await sleep(1000);
    }
    finishJob({ images: [], seed: 0, width: 512, height: 512, parameters: '', timings: {} });

    report(levels, raw, idle);
  } finally {
    for (const p of procs) p.stop();
    await consumer.close(1000).catch(() => undefined);
    await driver.close();
    publisher.disconnect();
    serve.child.kill('SIGTERM');
    await new Promise((r) => (serve.child.exitCode !== null ? r(null) : serve.child.once('exit', r)));
    await deleteKeys(prefix);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function report(levels: readonly Level[], raw: Latencies, idle: { rss: number; heap: number }): void {
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const ms = (x: number) => x.toFixed(1);
  const atTarget = levels.find((l) => l.subscribers === 1000);
  console.log(
    [
      `giraffe bench/stream — preview publish → WebSocket client, ${RATE}/s for ${SECONDS} s per level, 64×64 RGB → 256 px JPEG`,
      `machine: ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}; API in its own process, ` +
        `${CLIENT_PROCS} subscriber process(es)`,
      `raw Redis pub/sub (${PREVIEW_SIDE * PREVIEW_SIDE * 3 + 4} B to one ioredis subscriber)   p50 ${ms(raw.p50)} ms   p99 ${ms(raw.p99)} ms   max ${ms(raw.max)} ms`,
      `API idle                 RSS ${mib(idle.rss)} MiB   heap ${mib(idle.heap)} MiB`,
      '',
      '| subscribers | p50 (ms) | p99 (ms) | max (ms) | first subscriber p50 (ms) | delivered | API RSS (MiB) | API heap (MiB) | open errors | dropped sockets |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...levels.map(
        (l) =>
          `| ${l.subscribers} | ${ms(l.latency.p50)} | ${ms(l.latency.p99)} | ${ms(l.latency.max)} | ${ms(l.latency.first)} | ` +
          `${(l.latency.delivered * 100).toFixed(1)} % | ${mib(l.rss)} | ${mib(l.heap)} | ${l.openErrors.length} | ${l.unexpectedCloses} |`,
      ),
      '',
      atTarget
        ? `p99 at 1,000 subscribers: ${ms(atTarget.latency.p99)} ms (target ≤ ${TARGET_MS} ms) — ` +
          (atTarget.latency.p99 <= TARGET_MS ? 'met' : 'missed') +
          `; raw Redis pub/sub p99 ${ms(raw.p99)} ms`
        : `no level with 1,000 subscribers ran: the target (p99 ≤ ${TARGET_MS} ms) is not judged`,
      ...levels.flatMap((l) => l.openErrors.slice(0, 3).map((e) => `  open error at ${l.subscribers}: ${e}`)),
    ].join('\n'),
  );
  const rawBaseline = { name: 'raw Redis PUBLISH → ioredis subscriber', value: raw.p99, unit: 'ms (p99)' };
  const figures: BenchFigure[] = [];
  for (const l of levels) {
    const n = l.subscribers.toLocaleString('en');
    figures.push(
      {
        name: `preview latency p99, ${n} subscriber(s)`,
        value: l.latency.p99,
        unit: 'ms',
        ...(l.subscribers === 1000 ? atMost(l.latency.p99, TARGET_MS, `≤ ${TARGET_MS} ms`) : {}),
        baseline: rawBaseline,
      },
      { name: `preview latency p50, ${n} subscriber(s)`, value: l.latency.p50, unit: 'ms' },
      {
        name: `preview latency to the first subscriber, median, ${n} subscriber(s)`,
        value: l.latency.first,
        unit: 'ms',
      },
      { name: `previews delivered, ${n} subscriber(s)`, value: l.latency.delivered * 100, unit: '%' },
      { name: `API RSS, ${n} subscriber(s)`, value: l.rss / 2 ** 20, unit: 'MiB' },
      { name: `API heap used, ${n} subscriber(s)`, value: l.heap / 2 ** 20, unit: 'MiB' },
    );
  }
  figures.push(
    { name: 'raw Redis pub/sub latency p50', value: raw.p50, unit: 'ms' },
    { name: 'raw Redis pub/sub latency p99', value: raw.p99, unit: 'ms' },
    { name: 'API RSS, idle', value: idle.rss / 2 ** 20, unit: 'MiB' },
    { name: 'API heap used, idle', value: idle.heap / 2 ** 20, unit: 'MiB' },
  );
  writeBenchResult(values.json, {
    bench: 'stream',
    title:
      `Preview delivery, worker publishPreview → WebSocket client on loopback (giraffe serve in its own process, BullMQ driver), ` +
      `${RATE} previews/s for ${SECONDS} s per level, 64×64 RGB asked as 256 px JPEG; subscribers in ${CLIENT_PROCS} process(es)`,
    figures,
    notes: [
      'Latency is arrival at the client (`message` event, frame header decoded) minus the publish call, both as ' +
        '`performance.timeOrigin + performance.now()` in separate processes. The raw baseline publishes a message of ' +
        'the same size with a plain ioredis client to one ioredis subscriber in a subscriber process.',
      `Subscribers are spread over ${CLIENT_PROCS} subscriber process(es) (\`--client-procs\`); each reads its sockets' ` +
        'frames one after another, so that queueing is part of the latency. On a 2-core machine 1 and 8 processes ' +
        'both did worse than 4 at 1,000 subscribers (one process queues more; eight compete with the API for CPU).',
      'Memory is the API process’s RSS (/proc) and V8 heap in use (its /metrics) with the sockets still open, at ' +
        'the end of each level.',
    ],
  });
}

void main().then(
  () => endProcess(0),
  (err: unknown) => {
    console.error(err);
    endProcess(1);
  },
);
