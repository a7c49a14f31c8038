import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Estimated memory one loaded copy of a model takes, in bytes: the size of
 * the files in its directory (hidden files and Markdown aside). onnxruntime
 * holds every initializer of every graph in memory once loaded, so the
 * weights on disk are the bulk of a session's footprint; activations and
 * arenas add to it per run, which is why the budget is a setting and not
 * the machine's whole memory. Symlinked files (Hugging Face snapshots)
 * count as their targets.
 */
export function estimateModelFootprint(dir: string): number {
  let bytes = 0;
  const seen = new Set<string>();
  const walk = (folder: string): void => {
    const real = fs.realpathSync(folder);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name.endsWith('.md')) continue;
      const full = path.join(folder, entry.name);
      const stat = fs.statSync(full);
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) bytes += stat.size;
    }
  };
  walk(dir);
  return bytes;
}
