import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/** A sibling path of `dir` that no other process will pick (same filesystem, so rename is atomic). */
export function siblingTempPath(dir: string, tag: string): string {
  return path.join(
    path.dirname(dir),
    `.${path.basename(dir)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** Lost rename races tolerated before giving up (each one means another writer finished). */
const MAX_RENAME_ATTEMPTS = 20;

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/**
 * Fills a fresh temporary directory beside `dir` with `fill`, then renames it
 * to `dir`, so readers see either no directory or a complete one. An existing
 * `dir` is moved aside first and deleted afterwards.
 *
 * `keepExisting(dir)` lets concurrent writers cooperate: it is asked after
 * `fill` (another process may have finished first) and again each time our
 * rename loses a race; when it says the copy in place will do, ours is discarded.
 */
export async function writeDirectoryAtomically(
  dir: string,
  fill: (tempDir: string) => Promise<void>,
  keepExisting: (existing: string) => Promise<boolean> = async () => false,
): Promise<void> {
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  const temp = siblingTempPath(dir, 'tmp');
  const olds: string[] = [];
  await fsp.mkdir(temp);
  try {
    await fill(temp);
    // A lost race is tried again: between another writer's two renames `dir` is briefly
    // missing, so one look at it after losing can find nothing to keep (seen in CI).
    for (let attempt = 1; ; attempt++) {
      if (await keepExisting(dir)) return;
      const old = siblingTempPath(dir, 'old');
      olds.push(old);
      try {
        await fsp.rename(dir, old);
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
      }
      try {
        await fsp.rename(temp, dir);
        return;
      } catch (err) {
        // Another writer installed its copy between our two renames.
        if (!isCode(err, 'ENOTEMPTY', 'EEXIST', 'EPERM') || attempt >= MAX_RENAME_ATTEMPTS) throw err;
      }
    }
  } finally {
    await fsp.rm(temp, { recursive: true, force: true });
    for (const old of olds) await fsp.rm(old, { recursive: true, force: true });
  }
}
