/**
 * Peak memory while loading a model whose weights live in external data
 * files, against the size of those weights. giraffe opens every session from
 * its path (onnxruntime reads the external data itself), so no JS buffer
 * holds a second copy; the figure to watch is peak RSS ÷ weights.
 *
 * It writes a large SDXL-shaped fixture once (U-Net width `--channels`;
 * 1792 gives about 1.3 GB of float32 weights in `model.onnx_data`), then
 * loads it in a fresh process, which reports its RSS before loading and its
 * peak RSS (VmHWM) after. Shared machine: figures are noisy.
 *
 *   npm run build && node --import tsx bench/load-memory.ts [-- --channels 1792 --dir /tmp/giraffe-big --keep]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { StableDiffusionPipeline, writeFixtureModel } from '../dist/pipeline';
import { writeBenchResult } from './lib/bench-results';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: {
    channels: { type: 'string', default: '1792' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    child: { type: 'string' },
    json: { type: 'string' },
  },
});

const MB = 1024 * 1024;

/** Bytes of the graphs and their external data under `dir`. */
function weightBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    if (/\.(onnx|onnx_data|pb)$/.test(entry.name))
      total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/**
 * Peak RSS of this process: VmHWM on Linux, which starts afresh at exec.
 * (getrusage's maxrss does not: a child spawned by a process that just wrote
 * gigabytes inherits its parent's peak.)
 */
function peakRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // Not Linux: fall back to getrusage.
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function child(dir: string): Promise<void> {
  global.gc?.();
  const before = process.memoryUsage().rss;
  const started = performance.now();
  const pipeline = await StableDiffusionPipeline.load(dir);
  const loadMs = performance.now() - started;
  const after = process.memoryUsage();
  const peak = peakRss();
  process.stdout.write(
    JSON.stringify({ before, peak, after: after.rss, arrayBuffers: after.arrayBuffers, loadMs }) + '\n',
  );
  await pipeline.close();
}

async function main(): Promise<void> {
  const channels = Number(values.channels);
  const dir = path.resolve(values.dir ?? path.join(os.tmpdir(), `giraffe-bench-load-${channels}`));
  if (!fs.existsSync(path.join(dir, 'model_index.json'))) {
    process.stdout.write(`writing an SDXL-shaped fixture (U-Net width ${channels}) to ${dir} …\n`);
    await writeFixtureModel(dir, { family: 'sdxl', channels, externalData: 'model.onnx_data' });
  }
  const weights = weightBytes(dir);
  const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child', dir], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const m = JSON.parse(out.trim().split('\n').at(-1)!) as {
    before: number;
    peak: number;
    after: number;
    arrayBuffers: number;
    loadMs: number;
  };
  const lines = [
    `weights on disk (graphs + external data): ${(weights / MB).toFixed(0)} MiB`,
    `RSS before loading:                       ${(m.before / MB).toFixed(0)} MiB`,
    `peak RSS while loading:                   ${(m.peak / MB).toFixed(0)} MiB  (${(m.peak / weights).toFixed(2)} × the weights)`,
    `peak RSS − RSS before:                    ${((m.peak - m.before) / MB).toFixed(0)} MiB  (${((m.peak - m.before) / weights).toFixed(2)} × the weights)`,
    `RSS once loaded:                          ${(m.after / MB).toFixed(0)} MiB; JS ArrayBuffers ${(m.arrayBuffers / MB).toFixed(1)} MiB`,
    `load time:                                ${(m.loadMs / 1000).toFixed(1)} s`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  writeBenchResult(values.json, {
    bench: 'load-memory',
    title: `peak RSS while loading an SDXL-shaped fixture with ${(weights / MB).toFixed(0)} MiB of external weights`,
    figures: [
      { name: 'weights', value: weights / MB, unit: 'MiB' },
      { name: 'peak RSS while loading', value: m.peak / MB, unit: 'MiB' },
      { name: 'peak RSS ÷ weights', value: m.peak / weights, unit: '×' },
    ],
  });
  if (!values.keep && !values.dir) fs.rmSync(dir, { recursive: true, force: true });
}

(values.child ? child(values.child) : main()).catch((err: unknown) => {
  console.error(err);
  endProcess(1);
});
