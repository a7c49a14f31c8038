import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { GiraffeError } from '../errors';
import { inputImageNames, type InputImageName } from '../jobs';
import { isValidJobId } from './job-lifecycle';
import type { ResultStore, StoredImage } from './ports';

/** What the sidecar beside each image holds. */
interface Sidecar {
  readonly content_type: string;
  /** Epoch ms after which the image is gone. */
  readonly expires_at: number;
}

// Far more than any request may ask for (8); bounds what a path can name.
const MAX_INDEX = 1023;
// A file without a sidecar this old is debris, not a write in progress.
const ORPHAN_AGE_MS = 60_000;

function validIndex(index: number): boolean {
  return Number.isInteger(index) && index >= 0 && index <= MAX_INDEX;
}

/** Sweeps often enough that short test retentions hold, rarely enough to cost nothing in production. */
function sweepInterval(retentionMs: number): number {
  return Math.min(Math.max(Math.floor(retentionMs / 2), 100), 600_000);
}

/**
 * Result images on disk: `<dir>/<jobId>/<index>` plus `<index>.json` with the
 * content type and expiry. Writes are atomic (temp file + rename, sidecar
 * last), so a reader sees a whole image or none. Expired images are removed
 * on read and by a periodic sweep that does not keep the process alive.
 * Shared volumes work as long as every replica's clock is roughly right.
 */
export class FileResultStore implements ResultStore {
  readonly dir: string;
  readonly #retentionMs: number;
  readonly #sweep: NodeJS.Timeout;
  #sweeping: Promise<void> | undefined;

  constructor(dir: string, retentionMs: number) {
    this.dir = path.resolve(dir);
    this.#retentionMs = retentionMs;
    this.#sweep = setInterval(() => {
      this.#sweeping ??= this.sweep().finally(() => (this.#sweeping = undefined));
    }, sweepInterval(retentionMs));
    this.#sweep.unref();
  }

  async put(jobId: string, index: number, image: StoredImage): Promise<void> {
    if (!isValidJobId(jobId) || !validIndex(index)) {
      throw new GiraffeError(
        'GIRAFFE_ERR_REQUEST_INVALID',
        `not a result address: ${String(jobId)}/${index}`,
      );
    }
    await this.#write(jobId, String(index), image);
  }

  /** Beside the results, as `input-<name>` (and its sidecar): same expiry, same sweep, same delete. */
  async putInput(jobId: string, name: InputImageName, image: StoredImage): Promise<void> {
    if (!isValidJobId(jobId) || !inputImageNames.includes(name)) {
      throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `not an input address: ${String(jobId)}/${name}`);
    }
    await this.#write(jobId, `input-${name}`, image);
  }

  async getInput(jobId: string, name: InputImageName): Promise<StoredImage | undefined> {
    if (!isValidJobId(jobId) || !inputImageNames.includes(name)) return undefined;
    return this.#read(path.join(this.dir, jobId, `input-${name}`));
  }

  async #write(jobId: string, name: string, image: StoredImage): Promise<void> {
    const jobDir = path.join(this.dir, jobId);
    const sidecar: Sidecar = { content_type: image.content_type, expires_at: Date.now() + this.#retentionMs };
    const write = async () => {
      await fs.mkdir(jobDir, { recursive: true });
      await writeAtomic(path.join(jobDir, name), image.data);
      await writeAtomic(path.join(jobDir, `${name}.json`), JSON.stringify(sidecar));
    };
    // The sweep may remove a just-created, still empty directory under us: once more then.
    await write().catch((err: unknown) => (isMissing(err) ? write() : Promise.reject(err)));
  }

  async get(jobId: string, index: number): Promise<StoredImage | undefined> {
    if (!isValidJobId(jobId) || !validIndex(index)) return undefined;
    return this.#read(path.join(this.dir, jobId, String(index)));
  }

  async #read(file: string): Promise<StoredImage | undefined> {
    const sidecar = await readSidecar(`${file}.json`);
    if (!sidecar) return undefined;
    if (sidecar.expires_at <= Date.now()) {
      await removeImage(file);
      return undefined;
    }
    try {
      return { data: await fs.readFile(file), content_type: sidecar.content_type };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async delete(jobId: string): Promise<void> {
    if (!isValidJobId(jobId)) return;
    await fs.rm(path.join(this.dir, jobId), { recursive: true, force: true });
  }

  /** Removes every expired image, debris of interrupted writes, and empty job directories. */
  async sweep(): Promise<void> {
    const now = Date.now();
    for (const jobId of await listDir(this.dir)) {
      if (!isValidJobId(jobId)) continue;
      const jobDir = path.join(this.dir, jobId);
      const names = new Set(await listDir(jobDir));
      for (const name of names) {
        const file = path.join(jobDir, name);
        if (name.endsWith('.json')) {
          const sidecar = await readSidecar(file);
          if (!sidecar || sidecar.expires_at <= now) await removeImage(file.slice(0, -'.json'.length));
        } else if (!names.has(`${name}.json`) && (await olderThan(file, now - ORPHAN_AGE_MS))) {
          // A temp file or an image whose sidecar never landed: a crashed write.
          await fs.rm(file, { force: true });
        }
      }
      // Only succeeds once nothing is left in it.
      await fs.rmdir(jobDir).catch(() => undefined);
    }
  }

  /** Stops the sweep. */
  async close(): Promise<void> {
    clearInterval(this.#sweep);
    await this.#sweeping;
  }
}

async function writeAtomic(file: string, data: Buffer | string): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

async function readSidecar(file: string): Promise<Sidecar | undefined> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<Sidecar>;
    if (typeof parsed.content_type !== 'string' || typeof parsed.expires_at !== 'number') return undefined;
    return { content_type: parsed.content_type, expires_at: parsed.expires_at };
  } catch (err) {
    if (isMissing(err) || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

async function olderThan(file: string, cutoff: number): Promise<boolean> {
  try {
    return (await fs.stat(file)).mtimeMs < cutoff;
  } catch {
    return false;
  }
}

async function removeImage(file: string): Promise<void> {
  // Sidecar first: without it the image no longer counts as stored.
  await fs.rm(`${file}.json`, { force: true });
  await fs.rm(file, { force: true });
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
