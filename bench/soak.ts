/**
 * Soak: the distributed deployment (`giraffe serve` + `giraffe worker` ×N on
 * Redis, demo model) under `--jobs` jobs submitted over HTTP, at most
 * `--inflight` unfinished at once. Checks that no accepted job is lost or
 * finishes twice (one final event each on the event bus), that every image
 * comes back, and prints the API's and workers' RSS after every 100 finished
 * jobs, with the end against the first sample (target: within 10 %).
 * Meanwhile `--clients` WebSocket clients follow the jobs' streams (each job
 * by ⌈clients / inflight⌉ of them), and every stream is checked: snapshot
 * first, `seq`s without gap or repeat, exactly one final state, the one in
 * the job's record, closed with 1000.
 * Exits 1 when a job is lost or duplicated, a stream is wrong, or a process crashed.
 *
 *   npm run soak [-- --jobs 1000 --workers 2 --inflight 16 --clients 50 --steps 20 --size 512 --json FILE]
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { formatSoakReport, runSoak } from './lib/soak-run';
import { endProcess } from './lib/end-process';
import { REDIS_URL } from './lib/bench-redis';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '2' },
    inflight: { type: 'string', default: '16' },
    steps: { type: 'string', default: '20' },
    size: { type: 'string', default: '512' },
    'sample-every': { type: 'string', default: '100' },
    clients: { type: 'string', default: '50' },
    json: { type: 'string' },
  },
});

async function main(): Promise<number> {
  const report = await runSoak({
    jobs: Number(values.jobs),
    workers: Number(values.workers),
    inflight: Number(values.inflight),
    steps: Number(values.steps),
    size: Number(values.size),
    sampleEvery: Number(values['sample-every']),
    clients: Number(values.clients),
    redisUrl: REDIS_URL,
    drainTimeoutMs: 120_000,
    log: (line) => console.error(line),
  });
  console.log(formatSoakReport(report));
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(report, null, 2));
  const broken =
    report.lost.length +
      report.duplicated.length +
      report.badImages.length +
      report.crashed.length +
      report.streams.problems.length >
    0;
  return broken ? 1 : 0;
}

void main().then((code) => endProcess(code));
