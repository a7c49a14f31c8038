import * as fs from 'node:fs';

/** A figure measured against the library underneath in the same run. */
export interface Baseline {
  /** What the raw library did, e.g. "raw BullMQ queue.add". */
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

/** One measured figure of a benchmark. */
export interface BenchFigure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The target as people read it, e.g. "≤ 15 ms" or "≥ 0.80 × raw"; absent when there is none. */
  readonly target?: string;
  /** Whether the target is met; absent without a target. */
  readonly met?: boolean;
  /** The raw library's figure for the same work, measured in the same run. */
  readonly baseline?: Baseline;
}

/** What a bench script reports besides its human-readable lines. */
export interface BenchResult {
  /** The script's name, e.g. `queue`. */
  readonly bench: string;
  /** One line: what was measured and how. */
  readonly title: string;
  readonly figures: readonly BenchFigure[];
  /** Further context (settings, per-round figures). */
  readonly notes?: readonly string[];
}

/**
 * Writes a bench script's results as JSON to `file` (its `--json` option) for
 * `bench/run-all.ts`; does nothing without a file, so the script still runs
 * on its own and prints only its human output.
 */
export function writeBenchResult(file: string | undefined, result: BenchResult): void {
  if (file) fs.writeFileSync(file, JSON.stringify(result, null, 2));
}

/** `{ target, met }` for a figure that must stay at or below `limit`. */
export function atMost(value: number, limit: number, text: string): Pick<BenchFigure, 'target' | 'met'> {
  return { target: text, met: value <= limit };
}

/** `{ target, met }` for a figure that must reach at least `limit`. */
export function atLeast(value: number, limit: number, text: string): Pick<BenchFigure, 'target' | 'met'> {
  return { target: text, met: value >= limit };
}
