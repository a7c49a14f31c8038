/**
 * Runs every bench script in this folder (each `bench/*.ts` but this runner
 * and the soak), one after another, each with `--json` so it hands its
 * figures back, and writes `bench/REPORT.md`: the machine, then every figure
 * with its target and the raw-library baseline measured in the same run.
 * A new bench script joins by being here and honouring `--json FILE` (see
 * `lib/bench-results.ts`). A benchmark is not a test: a failing or missed
 * target is reported, and this exits 0 all the same.
 *
 *   npm run bench [-- --only queue,api --out bench/REPORT.md --timeout 600]
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import type { BenchResult } from './lib/bench-results';
import { endProcess } from './lib/end-process';
import { testRedisUrl } from '../test/redis-url';

/** Scripts here that are not benchmarks of their own. */
const NOT_BENCHES = new Set(['run-all.ts', 'soak.ts']);

/** Targets of issue 8 whose bench script does not exist yet: listed as not measured until it does. */
const AWAITED: Readonly<Record<string, string>> = {
  'stream.ts': 'stream preview delivery p99 ≤ 50 ms at 1,000 subscribers',
};

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    out: { type: 'string', default: path.join(__dirname, 'REPORT.md') },
    timeout: { type: 'string', default: '600' },
  },
});
const REDIS_URL = testRedisUrl();

interface Outcome {
  readonly script: string;
  readonly seconds: number;
  readonly exitCode: number | null;
  readonly output: string;
  readonly result?: BenchResult;
  readonly error?: string;
}

function benchScripts(): string[] {
  const only = values.only?.split(',').map((s) => s.trim().replace(/\.ts$/, ''));
  return fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !NOT_BENCHES.has(f))
    .filter((f) => !only || only.includes(f.replace(/\.ts$/, '')))
    .sort();
}

async function runOne(script: string, timeoutS: number): Promise<Outcome> {
  const jsonFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-')), 'result.json');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, script), '--json', jsonFile],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    },
  );
  let output = '';
  const keep = (d: Buffer) => {
    process.stdout.write(d);
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutS * 1000);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  let result: BenchResult | undefined;
  let error: string | undefined;
  try {
    result = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as BenchResult;
  } catch {
    error = timedOut ? `killed after ${timeoutS} s` : `exit code ${exitCode}, no results written`;
  } finally {
    fs.rmSync(path.dirname(jsonFile), { recursive: true, force: true });
  }
  if (!error && exitCode !== 0) error = `exit code ${exitCode} (results were written)`;
  return { script, seconds, exitCode, output, result, error };
}

async function redisVersion(): Promise<string> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return 'unreachable';
  } finally {
    redis.disconnect();
  }
}

function packageVersion(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`);
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const fmt = (x: number): string => {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x);
  const abs = Math.abs(x);
  return abs >= 100 ? x.toFixed(0) : abs >= 10 ? x.toFixed(1) : abs >= 1 ? x.toFixed(2) : x.toFixed(3);
};
const cell = (s: string): string => s.replace(/\|/g, '\\|');
const verdict = (met: boolean | undefined): string =>
  met === undefined ? '—' : met ? '✅ met' : '❌ missed';

function render(outcomes: readonly Outcome[], machine: readonly string[], date: Date): string {
  const lines = [
    '# giraffe benchmark report',
    '',
    `Written by \`npm run bench\` (bench/run-all.ts) on ${date.toISOString()}. Regenerate with the same command.`,
    '',
    '## Machine',
    '',
    ...machine.map((m) => `- ${m}`),
    '',
    'These machines are shared and noisy. Every target on a ratio compares giraffe with the raw library',
    'underneath, measured back to back in the same run; absolute figures from different runs are not comparable.',
    '',
    '## Summary',
    '',
    '| bench | figure | value | target | | raw baseline, same run | ours / raw |',
    '|---|---|---:|---|---|---|---:|',
  ];
  for (const o of outcomes) {
    const name = o.script.replace(/\.ts$/, '');
    if (!o.result) {
      lines.push(`| ${name} | **failed**: ${cell(o.error ?? 'no results')} | | | | | |`);
      continue;
    }
    for (const f of o.result.figures.filter((f) => f.target !== undefined || f.baseline !== undefined)) {
      const base = f.baseline ? `${cell(f.baseline.name)}: ${fmt(f.baseline.value)} ${f.baseline.unit}` : '';
      const ratio = f.baseline && f.baseline.value !== 0 ? fmt(f.value / f.baseline.value) : '';
      lines.push(
        `| ${name} | ${cell(f.name)} | ${fmt(f.value)} ${f.unit} | ${cell(f.target ?? '')} | ${verdict(f.met)} | ${base} | ${ratio} |`,
      );
    }
  }
  const present = new Set(fs.readdirSync(__dirname));
  for (const [script, target] of Object.entries(AWAITED)) {
    if (!present.has(script)) {
      lines.push(
        `| ${script.replace(/\.ts$/, '')} | ${cell(target)} | not measured: bench/${script} does not exist yet | | | | |`,
      );
    }
  }
  for (const o of outcomes) {
    const name = o.script.replace(/\.ts$/, '');
    lines.push('', `## ${name}`, '');
    lines.push(
      `\`bench/${o.script}\`, ${o.seconds.toFixed(0)} s${o.error ? ` — **failed: ${o.error}**` : ''}.`,
    );
    if (o.result) {
      lines.push(
        '',
        o.result.title,
        '',
        '| figure | value | target | | raw baseline, same run |',
        '|---|---:|---|---|---|',
      );
      for (const f of o.result.figures) {
        const base = f.baseline
          ? `${cell(f.baseline.name)}: ${fmt(f.baseline.value)} ${f.baseline.unit}`
          : '';
        lines.push(
          `| ${cell(f.name)} | ${fmt(f.value)} ${f.unit} | ${cell(f.target ?? '')} | ${verdict(f.met)} | ${base} |`,
        );
      }
      for (const note of o.result.notes ?? []) lines.push('', note);
    }
    lines.push(
      '',
      '<details><summary>output</summary>',
      '',
      '```text',
      o.output.trimEnd(),
      '```',
      '',
      '</details>',
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const date = new Date();
  const cpus = os.cpus();
  const machine = [
    `CPU: ${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores (logical)`,
    `RAM: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `OS: ${os.type()} ${os.release()} ${os.arch()}`,
    `Node.js ${process.version}; onnxruntime-node ${packageVersion('onnxruntime-node')}; bullmq ${packageVersion('bullmq')}; fastify ${packageVersion('fastify')}`,
    `Redis ${await redisVersion()} at ${REDIS_URL}`,
    `load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
  ];
  const outcomes: Outcome[] = [];
  for (const script of benchScripts()) {
    console.log(`\n=== bench/${script}`);
    outcomes.push(await runOne(script, Number(values.timeout)));
  }
  fs.writeFileSync(values.out, render(outcomes, machine, date));
  console.log(`\nwrote ${values.out}`);
}

void main().then(
  () => endProcess(0),
  (err: unknown) => {
    // Even the runner failing is no build failure; say so and stop.
    console.error(err);
    endProcess(0);
  },
);
