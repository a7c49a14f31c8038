/**
 * API throughput: `POST /v1/generate` requests/s (autocannon over loopback,
 * BullMQ driver on Redis, no worker so jobs only queue) against raw BullMQ
 * `queue.add` from this process on the same Redis, in the same run.
 *
 * autocannon runs in a child process, so the load generator does not share
 * the server's event loop. Both sides keep `--connections` operations in
 * flight: autocannon that many HTTP requests, the raw side that many
 * `queue.add` calls (with the driver's job options), each awaiting its reply
 * before the next. Per request the API validates the body (zod), checks the
 * rate limit (one Redis script), queues the job (our create script, which
 * also checks the queue depth; BullMQ's add; our announce script that
 * numbers and keeps the `queued` event and reports the position), signs a
 * stream token and answers 202 with the job: four Redis round trips, which
 * requests in flight together share (the API connection pipelines what is
 * asked for in one tick). Raw BullMQ does the add alone.
 *
 * Two more baselines, same run, same autocannon load, show where the HTTP
 * floor lies on this machine: a bare Fastify server that parses the JSON
 * body and answers 202 (no Redis at all), and the same server doing one raw
 * `queue.add` per request (the smallest HTTP service over BullMQ); ours /
 * (Fastify + queue.add) is what our layer costs. There is no target: the old
 * "≥ 0.60 × raw queue.add" was retired (issue 16), since for jobs that take
 * seconds of device time admissions are not what limits anyone.
 *
 *   npm run bench:api [-- --seconds 10 --connections 16 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { execFile } from 'node:child_process';
import type { Result } from 'autocannon';
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import pino from 'pino';
import { buildApp } from '../dist/api';
import { loadConfig } from '../dist/config';
import { ensureDemoModel, resolveRequest } from '../dist/pipeline';
import { createQueueDriver } from '../dist/queue';
import { announceStandInWorker } from '../test/helpers/stand-in-worker';
import { atMost, writeBenchResult } from './lib/bench-results';
import { driverJobOptions, deleteKeys, REDIS_URL } from './lib/bench-redis';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    json: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const body = { prompt: 'a giraffe eating a building', steps: 20, width: 512, height: 512 };
async function apiRate(
  prefix: string,
  dataDir: string,
): Promise<{ rps: number; p50: number; p99: number; non2xx: number }> {
  const config = loadConfig({
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    MAX_QUEUE_DEPTH: '1000000',
    RATE_LIMIT_MAX: '1000000',
    // One client submits every job: the per-key job limit would refuse most of them.
    MAX_JOBS_PER_KEY: '1000000',
  });
  const driver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir });
  // No worker runs (admission alone is measured), but the API takes jobs only for served models.
  await announceStandInWorker(driver, ['demo'], 'bench-api');
  const app = await buildApp({
    config,
    driver,
    logger: pino({ level: 'silent' }),
    extraModels: { demo: await ensureDemoModel(dataDir) },
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const result = await loadFromChild(`${address}/v1/generate`);
  await app.close();
  await driver.close();
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
  };
}

/** Runs autocannon's CLI in its own process and reads its JSON summary. */
function loadFromChild(url: string): Promise<Result> {
  const cli = require.resolve('autocannon/autocannon.js');
  const args = [
    cli,
    ...['--connections', String(CONNECTIONS), '--duration', String(SECONDS)],
    ...['--method', 'POST', '--headers', 'content-type=application/json'],
    ...['--body', JSON.stringify(body), '--json', url],
  ];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout) as Result);
    });
  });
}

/** Bare Fastify, with or without one raw `queue.add` per request: the HTTP floor. */
async function bareFastifyRate(prefix: string, withAdd: boolean): Promise<number> {
  const queue = withAdd ? new Queue('bare', { connection: { url: REDIS_URL }, prefix }) : undefined;
  const app = Fastify({ logger: false });
  app.post('/v1/generate', async (request, reply) => {
    if (queue) {
      const job = await queue.add('job', { request: request.body, model: 'demo' }, driverJobOptions);
      return reply.code(202).send({ id: job.id, status: 'queued' });
    }
    return reply.code(202).send({ id: 'bare', status: 'queued' });
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const result = await loadFromChild(`${address}/v1/generate`);
  await app.close();
  await queue?.close();
  return result.requests.average;
}

async function rawRate(prefix: string): Promise<number> {
  const queue = new Queue('raw', { connection: { url: REDIS_URL }, prefix });
  const request = resolveRequest(body, { size: 512, scheduler: 'pndm' });
  let count = 0;
  const end = performance.now() + SECONDS * 1000;
  // The same number of requests in flight as autocannon keeps.
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        await queue.add('job', { request, model: 'demo' }, driverJobOptions);
        count++;
      }
    }),
  );
  await queue.close();
  return count / SECONDS;
}

async function main(): Promise<void> {
  const run = randomBytes(3).toString('hex');
  const prefix = (part: string): string => `{giraffe-bench-api-${run}-${part}}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-api-'));
  try {
    const api = await apiRate(prefix('a'), dataDir);
    const raw = await rawRate(prefix('b'));
    const bare = await bareFastifyRate(prefix('c'), false);
    const bareAdd = await bareFastifyRate(prefix('d'), true);
    console.log(
      [
        `giraffe bench/api — POST /v1/generate, ${CONNECTIONS} connections, ${SECONDS} s each, BullMQ driver, Redis ${REDIS_URL}`,
        `machine: ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}`,
        `API (autocannon in a child process, loopback)   ${api.rps.toFixed(0)} req/s   latency p50 ${api.p50} ms p99 ${api.p99} ms   non-2xx ${api.non2xx}`,
        `raw BullMQ queue.add, ${CONNECTIONS} in flight          ${raw.toFixed(0)} adds/s`,
        `bare Fastify, JSON body → 202 (no Redis)       ${bare.toFixed(0)} req/s   = ${(bare / raw).toFixed(2)} × raw queue.add`,
        `bare Fastify + one raw queue.add per request   ${bareAdd.toFixed(0)} req/s   = ${(bareAdd / raw).toFixed(2)} × raw queue.add`,
        `API / raw                                      ${(api.rps / raw).toFixed(2)}   (no target)`,
        `API / (bare Fastify + queue.add)               ${(api.rps / bareAdd).toFixed(2)}   (what giraffe's layer costs over the smallest HTTP service)`,
      ].join('\n'),
    );
    writeBenchResult(values.json, {
      bench: 'api',
      title: `POST /v1/generate over loopback (autocannon, ${CONNECTIONS} connections, ${SECONDS} s), BullMQ driver, no worker`,
      figures: [
        {
          name: 'POST /v1/generate',
          value: api.rps,
          unit: 'req/s',
          baseline: { name: 'raw BullMQ queue.add, same concurrency', value: raw, unit: 'adds/s' },
        },
        {
          name: 'POST /v1/generate vs the smallest HTTP service over BullMQ',
          value: api.rps,
          unit: 'req/s',
          baseline: { name: 'bare Fastify + one raw queue.add per request', value: bareAdd, unit: 'req/s' },
        },
        {
          name: 'HTTP floor: bare Fastify, JSON body → 202, no Redis',
          value: bare,
          unit: 'req/s',
          baseline: { name: 'raw BullMQ queue.add, same concurrency', value: raw, unit: 'adds/s' },
        },
        { name: 'POST /v1/generate latency p50', value: api.p50, unit: 'ms' },
        { name: 'POST /v1/generate latency p99', value: api.p99, unit: 'ms' },
        { name: 'non-2xx answers', value: api.non2xx, unit: 'responses', ...atMost(api.non2xx, 0, '0') },
      ],
    });
  } finally {
    await deleteKeys(prefix('a'));
    await deleteKeys(prefix('b'));
    await deleteKeys(prefix('c'));
    await deleteKeys(prefix('d'));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

void main().then(() => endProcess(0));
