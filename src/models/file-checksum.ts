import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';

/** What a file should be, as the Hub lists it: its size, and a sha256 (LFS files) or git blob id (the rest). */
export interface ExpectedFile {
  readonly size: number;
  /** sha256 (hex) of the content. */
  readonly sha256?: string;
  /** git blob id (hex sha1 over `blob <size>\0` and the content). */
  readonly gitOid?: string;
}

/** Hex digest of a file, streamed (weights run to gigabytes). */
export async function hashFile(file: string, algorithm: 'sha256' | 'sha1', prefix = ''): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix) hash.update(prefix);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * How `file` differs from `expected`, in words (its size first, then, with
 * `hash`, the checksum `expected` names); undefined when it checks out.
 * `source` says where the expected values come from in the message.
 */
export async function checksumProblem(
  file: string,
  expected: ExpectedFile,
  { hash = true, source = 'expected' }: { hash?: boolean; source?: string } = {},
): Promise<string | undefined> {
  const size = (await fsp.stat(file)).size;
  if (size !== expected.size) return `is ${size} bytes, ${source} ${expected.size}`;
  if (!hash) return undefined;
  if (expected.sha256) {
    const actual = await hashFile(file, 'sha256');
    return actual === expected.sha256 ? undefined : `has sha256 ${actual}, ${source} ${expected.sha256}`;
  }
  if (expected.gitOid) {
    const actual = await hashFile(file, 'sha1', `blob ${size}\0`);
    return actual === expected.gitOid ? undefined : `has git blob id ${actual}, ${source} ${expected.gitOid}`;
  }
  return undefined;
}
