import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GiraffeError } from '../errors';
import { hashFile } from '../models/file-checksum';

/** What a model directory's bytes were when a worker loaded it. */
export interface ModelFingerprint {
  /**
   * SHA-256 of the directory's `sha256sum` manifest: one line
   * `<file sha256>  <relative path>` per file, paths with `/` in byte order.
   * Reproduce it with
   * `find -L . -name '.?*' -prune -o -type f ! -name '*.md' -print | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`
   * in the model directory.
   */
  readonly sha256: string;
  /** Files hashed: every regular file except hidden ones and Markdown (ONNX graphs, external weights, configs, tokenizer). */
  readonly files: number;
  readonly bytes: number;
}

interface FileEntry {
  readonly relative: string;
  readonly full: string;
  readonly size: number;
  /** Size, mtime and inode: when none changed, the cached hash still holds. */
  readonly stamp: string;
  readonly mtimeMs: number;
}

/** Hidden files and folders (VCS, download caches) cannot change what the model computes; nor can Markdown docs. */
const hidden = (name: string): boolean => name.startsWith('.');
const documentation = (name: string): boolean => name.endsWith('.md');

async function listFiles(root: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    // Hugging Face snapshots are symlinks into a blob store: follow them, once.
    const real = await fs.promises.realpath(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of await fs.promises.readdir(dir, { withFileTypes: true })) {
      if (hidden(entry.name)) continue;
      const full = path.join(dir, entry.name);
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      const stat = await fs.promises.stat(full, { bigint: true });
      if (stat.isDirectory()) await walk(full, relative);
      else if (stat.isFile() && !documentation(entry.name))
        out.push({
          relative,
          full,
          size: Number(stat.size),
          stamp: `${stat.size}:${stat.mtimeNs}:${stat.ino}`,
          mtimeMs: Number(stat.mtimeMs),
        });
    }
  };
  await walk(root, '');
  // Byte order of the UTF-8 paths, as `LC_ALL=C sort` orders them.
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.relative), Buffer.from(b.relative)));
}

/**
 * Per-file hashes by absolute path and stamp, so re-fingerprinting an
 * unchanged model reads no weights. Only hashes of files whose mtime was
 * well before the hashing began are reused: file systems keep mtimes in
 * coarse ticks, so a file rewritten in place within the same tick keeps its
 * stamp (git's "racily clean" problem).
 */
const fileHashes = new Map<
  string,
  { readonly stamp: string; readonly sha256: string; readonly reusable: boolean }
>();
const RACY_MS = 2000;

/**
 * The content hash of a model directory. Hashes each file once per process
 * (re-reading a file when its size, mtime or inode changed, or when it had
 * just been written), so calling it again for a model already loaded costs
 * a directory walk.
 */
export async function fingerprintModel(modelDir: string): Promise<ModelFingerprint> {
  const dir = path.resolve(modelDir);
  try {
    return await fingerprint(dir);
  } catch (err) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_LOAD_FAILED',
      `${dir}: cannot hash the model's files (${(err as Error).message})`,
      { model: dir },
      { cause: err },
    );
  }
}

async function fingerprint(dir: string): Promise<ModelFingerprint> {
  const files = await listFiles(dir);
  const manifest = createHash('sha256');
  let bytes = 0;
  for (const file of files) {
    let cached = fileHashes.get(file.full);
    if (cached?.stamp !== file.stamp || !cached.reusable) {
      const startedAt = Date.now();
      cached = {
        stamp: file.stamp,
        sha256: await hashFile(file.full, 'sha256'),
        reusable: file.mtimeMs < startedAt - RACY_MS,
      };
      fileHashes.set(file.full, cached);
    }
    manifest.update(`${cached.sha256}  ${file.relative}\n`);
    bytes += file.size;
  }
  return { sha256: manifest.digest('hex'), files: files.length, bytes };
}
