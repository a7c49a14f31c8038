import * as path from 'node:path';

/**
 * Where `giraffe generate` writes its images: `--out` as given for one image,
 * `name-1.ext`, `name-2.ext`… for several; without `--out`,
 * `giraffe-<seed>.<ext>` in the working directory.
 */
export function outputPaths(out: string | undefined, seed: number, format: string, count: number): string[] {
  const base = out ?? `giraffe-${seed}.${format === 'jpeg' ? 'jpg' : format}`;
  if (count === 1) return [base];
  const ext = path.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  return Array.from({ length: count }, (_, i) => `${stem}-${i + 1}${ext}`);
}
