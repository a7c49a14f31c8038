import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** A fresh temp directory for one test file; remove it with {@link removeTempDir}. */
export function makeTempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `giraffe-${tag}-`));
}

export function removeTempDir(dir: string | undefined): void {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
}

/** Every file under `dir`, as sorted paths relative to it. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk('');
  return out.sort();
}

/**
 * σ(t) of the SD 1.5 schedule, written here from the published formula and
 * independently of the generator: β = linspace(√0.00085, √0.012, 1000)²,
 * ᾱ = cumprod(1 − β), σ = √((1 − ᾱ)/ᾱ), linear in t between integer steps.
 */
export function sd15Sigma(t: number): number {
  const table: number[] = [];
  let alphaBar = 1;
  for (let i = 0; i < 1000; i++) {
    const beta = (Math.sqrt(0.00085) + (i / 999) * (Math.sqrt(0.012) - Math.sqrt(0.00085))) ** 2;
    alphaBar *= 1 - beta;
    table.push(Math.sqrt((1 - alphaBar) / alphaBar));
  }
  const lo = Math.floor(t);
  const hi = Math.ceil(t);
  return table[lo] + (t - lo) * (table[hi] - table[lo]);
}

/** ᾱ(t) = 1/(1 + σ(t)²). */
export function sd15AlphaBar(t: number): number {
  return 1 / (1 + sd15Sigma(t) ** 2);
}

/** A tiny deterministic generator for test inputs (an LCG; quality is irrelevant here). */
export function testValues(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}

export function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}
