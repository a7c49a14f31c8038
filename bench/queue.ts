/**
 * Queue overhead, bullmq driver vs raw BullMQ on the same Redis, same run:
 *   - pick-up latency: enqueue → handler start with an idle worker (p50/p99),
 *   - throughput: jobs/s for N jobs with an instant handler, driver vs raw
 *     `queue.add` + `Worker` (the library underneath), as a ratio,
 *   - commands per job on each side: sent by the client (round trips) and run
 *     by Redis (also those inside Lua scripts), from one untimed round each
 *     watched with MONITOR.
 *
 * Both sides run the same BullMQ job options (the driver's: priority, 3
 * attempts with back-off, removeOnComplete), a Worker of concurrency 8 and a
 * no-op handler returning the same small result. Raw BullMQ carries the
 * request as job data and keeps nothing else; the driver also keeps its job
 * record (create, start, finish as Lua transitions) and
 * publishes the job's events (queued, started, succeeded).
 *
 * Throughput runs one untimed warm-up round of each side, then `--rounds`
 * timed rounds that alternate driver and raw, and reports medians: a single
 * cold driver round followed by a raw round that profits from the JIT the
 * driver warmed measured the order, not the queue. Each clock starts with
 * connected queues and idle consumers on both sides (raw used to wait for
 * its Worker, the driver's clock ran while its consumer connected).
 *
 *   npm run bench:queue [-- --jobs 1000 --latency 200 --rounds 5 --json FILE]
 */
import * as os from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import { resolveRequest } from '../dist/pipeline';
import { createQueueDriver } from '../dist/queue';
import type { JobResult } from '../dist/jobs';
import { atMost, writeBenchResult } from './lib/bench-results';
import { driverJobOptions, deleteKeys, REDIS_URL } from './lib/bench-redis';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    latency: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const JOBS = Number(values.jobs);
const LATENCY_SAMPLES = Number(values.latency);
const ROUNDS = Math.max(1, Number(values.rounds));
const request = resolveRequest(
  { prompt: 'bench', steps: 1, width: 64, height: 64, seed: 1 },
  { size: 64, scheduler: 'euler' },
);
const result: JobResult = { images: [], seed: 1, width: 64, height: 64, parameters: '', timings: {} };

/** Commands ioredis sends, counted on the shared prototype (BullMQ's connections and ours). */
let sent = 0;
const proto = Redis.prototype as unknown as { sendCommand: (...args: unknown[]) => unknown };
const sendCommand = proto.sendCommand;
proto.sendCommand = function (this: unknown, ...args: unknown[]) {
  sent++;
  return sendCommand.apply(this, args);
};

/** Runs one round with Redis MONITOR on: commands sent and commands Redis ran (Lua's too) per job. */
async function countCommands(
  prefix: string,
  round: (prefix: string) => Promise<number>,
): Promise<{ sent: number; run: number }> {
  const monitor = await new Redis(REDIS_URL).monitor();
  // A count, not a result: a hiccup on this connection must not end the bench.
  monitor.on('error', () => undefined);
  let run = 0;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((arg) => arg.includes(prefix))) run++;
  });
  const before = sent;
  await round(prefix);
  const ownCommands = sent - before;
  await new Promise((r) => setTimeout(r, 200));
  monitor.disconnect();
  return { sent: ownCommands / JOBS, run: run / JOBS };
}

/** Idle time before a throughput clock starts, the same on both sides. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 200));

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function driverLatency(prefix: string): Promise<number[]> {
  const driver = createQueueDriver({ redisUrl: REDIS_URL, prefix });
  let started: (() => void) | undefined;
  const consumer = driver.consume(
    'bench',
    async () => {
      started?.();
      return result;
    },
    { workerId: 'bench' },
  );
  await new Promise((r) => setTimeout(r, 500)); // the worker is idle, waiting on Redis
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const picked = new Promise<void>((resolve) => (started = resolve));
    const t0 = performance.now();
    await driver.queue.enqueue({ model: 'bench', request });
    await picked;
    samples.push(performance.now() - t0);
  }
  await consumer.close(1000);
  await driver.close();
  return samples;
}

async function rawLatency(prefix: string): Promise<number[]> {
  const connection = { url: REDIS_URL };
  const queue = new Queue('raw', { connection, prefix });
  let started: (() => void) | undefined;
  const worker = new Worker('raw', async () => started?.(), {
    connection: { url: REDIS_URL, maxRetriesPerRequest: null },
    prefix,
  });
  await worker.waitUntilReady();
  await new Promise((r) => setTimeout(r, 500));
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const picked = new Promise<void>((resolve) => (started = resolve));
    const t0 = performance.now();
    await queue.add('job', { request }, driverJobOptions);
    await picked;
    samples.push(performance.now() - t0);
  }
  await worker.close();
  await queue.close();
  return samples;
}

async function driverThroughput(prefix: string): Promise<number> {
  const driver = createQueueDriver({ redisUrl: REDIS_URL, prefix });
  let handled = 0;
  let allHandled: () => void = () => undefined;
  const handledAll = new Promise<void>((r) => (allHandled = r));
  const consumer = driver.consume(
    'bench',
    async () => {
      if (++handled === JOBS) allHandled();
      return result;
    },
    { workerId: 'bench', concurrency: 8 },
  );
  // As on the raw side, the clock starts with connected queue and consumer: opens the model's queue,
  // then gives the consumer's connections the time raw BullMQ's waitUntilReady() waits for.
  await driver.queue.depth('bench');
  await settle();
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from({ length: JOBS }, () => driver.queue.enqueue({ model: 'bench', request }).then((j) => j.id)),
  );
  await handledAll;
  // Then the last few finalisations: every record must read succeeded.
  for (;;) {
    const records = await Promise.all(ids.slice(-16).map((id) => driver.queue.get(id)));
    if (records.every((r) => r?.status === 'succeeded')) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const seconds = (performance.now() - t0) / 1000;
  await consumer.close(1000);
  await driver.close();
  return JOBS / seconds;
}

async function rawThroughput(prefix: string): Promise<number> {
  const queue = new Queue('raw', { connection: { url: REDIS_URL }, prefix });
  let done = 0;
  let finish: () => void = () => undefined;
  const all = new Promise<void>((r) => (finish = r));
  const worker = new Worker('raw', async () => result, {
    connection: { url: REDIS_URL, maxRetriesPerRequest: null },
    prefix,
    concurrency: 8,
  });
  worker.on('completed', () => {
    if (++done === JOBS) finish();
  });
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  await settle();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: JOBS }, () => queue.add('job', { request }, driverJobOptions)));
  await all;
  const seconds = (performance.now() - t0) / 1000;
  await worker.close();
  await queue.close();
  return JOBS / seconds;
}

async function main(): Promise<void> {
  const run = randomBytes(3).toString('hex');
  const prefixes: string[] = [];
  const prefix = (part: string): string => {
    const name = `{giraffe-bench-${run}-${part}}`;
    prefixes.push(name);
    return name;
  };
  try {
    const ours = await driverLatency(prefix('a'));
    const raw = await rawLatency(prefix('b'));
    await driverThroughput(prefix('warm-c'));
    await rawThroughput(prefix('warm-d'));
    const oursRates: number[] = [];
    const rawRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      oursRates.push(await driverThroughput(prefix(`c${round}`)));
      rawRates.push(await rawThroughput(prefix(`d${round}`)));
    }
    const oursCommands = await countCommands(prefix('e'), driverThroughput);
    const rawCommands = await countCommands(prefix('f'), rawThroughput);
    const oursRate = pct(oursRates, 50);
    const rawRate = pct(rawRates, 50);
    // Each round's pair ran back to back: the median of their ratios shrugs off load that came and went.
    const pairRatio = pct(
      oursRates.map((r, i) => r / rawRates[i]),
      50,
    );
    const rounds = (rates: number[]) => rates.map((r) => r.toFixed(0)).join(' ');
    const commands = (c: { sent: number; run: number }) =>
      `${c.sent.toFixed(2)} sent, ${c.run.toFixed(1)} run by Redis (Lua's included)`;
    console.log(
      [
        `giraffe bench/queue — ${LATENCY_SAMPLES} pick-ups, ${JOBS} jobs × ${ROUNDS} rounds for throughput (no-op handler, concurrency 8, the driver's job options on both sides), Redis ${REDIS_URL}`,
        `machine: ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}`,
        `pick-up enqueue→start, bullmq driver   p50 ${pct(ours, 50).toFixed(2)} ms   p99 ${pct(ours, 99).toFixed(2)} ms   (target p50 ≤ 15 ms)`,
        `pick-up queue.add→processor, raw BullMQ p50 ${pct(raw, 50).toFixed(2)} ms   p99 ${pct(raw, 99).toFixed(2)} ms`,
        `throughput bullmq driver               ${oursRate.toFixed(0)} jobs/s   (median; rounds ${rounds(oursRates)})`,
        `throughput raw BullMQ                  ${rawRate.toFixed(0)} jobs/s   (median; rounds ${rounds(rawRates)})`,
        `driver/raw = ${(oursRate / rawRate).toFixed(2)}   (median of round pairs ${pairRatio.toFixed(2)})`,
        `commands per job, bullmq driver        ${commands(oursCommands)}`,
        `commands per job, raw BullMQ           ${commands(rawCommands)}`,
      ].join('\n'),
    );
    const p50 = pct(ours, 50);
    writeBenchResult(values.json, {
      bench: 'queue',
      title: `bullmq driver vs raw BullMQ: ${LATENCY_SAMPLES} pick-ups; ${JOBS} jobs × ${ROUNDS} rounds, instant handler, concurrency 8`,
      figures: [
        {
          name: 'pick-up enqueue→handler p50',
          value: p50,
          unit: 'ms',
          ...atMost(p50, 15, '≤ 15 ms'),
          baseline: { name: 'raw BullMQ queue.add→processor p50', value: pct(raw, 50), unit: 'ms' },
        },
        {
          name: 'pick-up enqueue→handler p99',
          value: pct(ours, 99),
          unit: 'ms',
          baseline: { name: 'raw BullMQ queue.add→processor p99', value: pct(raw, 99), unit: 'ms' },
        },
        {
          name: 'driver throughput (median of rounds)',
          value: oursRate,
          unit: 'jobs/s',
          baseline: { name: 'raw BullMQ Queue + Worker', value: rawRate, unit: 'jobs/s' },
        },
      ],
      notes: [`throughput rounds, driver: ${rounds(oursRates)}; raw: ${rounds(rawRates)} jobs/s`],
    });
  } finally {
    for (const name of prefixes) await deleteKeys(name);
  }
}

void main().then(() => endProcess(0));
