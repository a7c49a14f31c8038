import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GiraffeError } from '../errors';
import { checksumProblem, type ExpectedFile } from './file-checksum';
import { hubError } from './hub-client';

/** A file to fetch and what it must turn out to be. */
export interface DownloadTarget extends ExpectedFile {
  readonly url: string;
  /** Final path; the transfer goes to `<dest>.part` and is renamed when it checks out. */
  readonly dest: string;
}

export interface DownloadOptions {
  /** Headers for a request to a URL (so that a token stays on its own origin across redirects). */
  readonly headersFor: (url: string) => Record<string, string>;
  /**
   * Consecutive attempts that bring no new byte before the download gives up.
   * An attempt that moves the file forward resets the count.
   * @defaultValue 5
   */
  readonly maxAttempts?: number;
  /** First wait between attempts, doubled each time up to 30 s. @defaultValue 500 */
  readonly retryDelayMs?: number;
  /** Told how many bytes were added to (or, when a transfer restarts, taken from) the file. */
  readonly onBytes?: (delta: number) => void;
  readonly signal?: AbortSignal;
}

const MAX_REDIRECTS = 10;

/** Answers that no retry can change (401, 403, 404 …): the download stops at once. */
const final = new WeakSet<Error>();

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch {
    return 0;
  }
}

/** One GET with node:http(s): its `data` events hand over every byte that arrived, even when the connection then breaks. */
function get(
  url: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<http.IncomingMessage> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    client.get(url, { headers, signal }, resolve).on('error', reject);
  });
}

/** GET with our own redirect handling, so each hop gets the headers meant for its origin. */
async function request(url: string, range: number, options: DownloadOptions): Promise<http.IncomingMessage> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = { ...options.headersFor(current), ...(range > 0 ? { range: `bytes=${range}-` } : {}) };
    const response = await get(current, headers, options.signal);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location) {
      response.resume();
      current = new URL(location, current).toString();
      continue;
    }
    return response;
  }
  throw new GiraffeError('GIRAFFE_ERR_HUB_UNAVAILABLE', `${url}: more than ${MAX_REDIRECTS} redirects`, {
    url,
  });
}

/** Start offset of a `Content-Range: bytes START-END/TOTAL` header. */
function rangeStart(header: string | undefined): number | undefined {
  const m = header ? /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header.trim()) : null;
  return m ? Number(m[1]) : undefined;
}

/** Bytes received but not yet on disk beyond which the connection is paused. */
const HIGH_WATER = 16 << 20;

/**
 * Writes a response body into `out` from `position`, chunk by chunk in
 * arrival order. Every chunk that arrived is written, even when the
 * connection then breaks: the writes are queued from `data` events (a stream
 * pipeline would drop what it still buffered), and the connection pauses
 * while too much waits. Call it in the same tick the response arrived in, so
 * that no event goes by unheard.
 */
async function writeBody(
  response: http.IncomingMessage,
  out: fsp.FileHandle,
  position: number,
  onBytes?: (n: number) => void,
): Promise<void> {
  let queued = 0;
  let offset = position;
  // Drop whatever lies beyond the start (a restart from 0, or a stale tail).
  let writes: Promise<unknown> = out.truncate(position);
  const ended = new Promise<void>((resolve, reject) => {
    response.on('data', (chunk: Buffer) => {
      queued += chunk.length;
      if (queued > HIGH_WATER) response.pause();
      const at = offset;
      offset += chunk.length;
      writes = writes.then(async () => {
        await out.write(chunk, 0, chunk.length, at);
        queued -= chunk.length;
        onBytes?.(chunk.length);
        if (response.isPaused() && queued < HIGH_WATER / 4) response.resume();
      });
      writes.catch((err: unknown) => response.destroy(err as Error));
    });
    response.on('end', resolve);
    response.on('error', reject);
    response.on('close', () => {
      if (!response.complete) reject(new Error('the connection closed early'));
    });
  });
  try {
    await ended;
  } finally {
    await writes.catch(() => undefined);
  }
  await writes;
}

/**
 * One transfer attempt: writes what the server sends to `part` from offset
 * `have`. Resolves when the body ended; rejects when the connection broke
 * (the bytes already written stay, for the next attempt to resume after).
 */
async function transfer(
  target: DownloadTarget,
  part: string,
  have: number,
  options: DownloadOptions,
): Promise<void> {
  // Opened before the request: between the answer and the first listener there must be no wait.
  const out = await fsp.open(part, fs.constants.O_RDWR | fs.constants.O_CREAT);
  try {
    const response = await request(target.url, have, options);
    const status = response.statusCode ?? 0;
    if (status === 416) {
      // Our partial file is not a prefix the server recognises: start again.
      response.resume();
      await out.truncate(0);
      options.onBytes?.(-have);
      throw new Error('range not satisfiable; restarting the file');
    }
    if (status !== 200 && status !== 206) {
      response.resume();
      const err = hubError(status, target.url, path.basename(target.dest), false);
      // 429 and 5xx may pass; 401/403/404 will not.
      if (err.code !== 'GIRAFFE_ERR_HUB_UNAVAILABLE' || (status >= 400 && status < 429)) final.add(err);
      throw err;
    }
    let from = 0;
    if (status === 200) {
      // The server ignored the range: the whole file comes again.
      if (have > 0) options.onBytes?.(-have);
    } else {
      // A 206 is written where its range starts: a server may answer from before the byte asked for.
      const start = rangeStart(response.headers['content-range']);
      if (start === undefined || start > have) {
        response.resume();
        await out.truncate(0);
        options.onBytes?.(-have);
        throw new Error(
          `asked for bytes from ${have}, the server answered ${response.headers['content-range'] ?? 'no Content-Range'}; restarting the file`,
        );
      }
      options.onBytes?.(start - have);
      from = start;
    }
    await writeBody(response, out, from, options.onBytes);
  } finally {
    await out.close();
  }
}

/**
 * Downloads one file to `target.dest`, resuming an interrupted transfer with
 * an HTTP `Range` request (also across runs: `<dest>.part` is kept), and
 * checks its size and sha256 (or git blob id) before renaming it into place.
 * A file already at `dest` of the right size is kept: only a transfer that
 * checked out is renamed there, so a resumed pull does not hash gigabytes
 * again (`models verify --checksums` does). A checksum mismatch deletes the
 * bad copy and throws GIRAFFE_ERR_MODEL_CHECKSUM_MISMATCH.
 */
export async function downloadFile(target: DownloadTarget, options: DownloadOptions): Promise<void> {
  await fsp.mkdir(path.dirname(target.dest), { recursive: true });
  if (fs.existsSync(target.dest)) {
    if ((await checksumProblem(target.dest, target, { hash: false })) === undefined) {
      options.onBytes?.(target.size);
      return;
    }
    await fsp.rm(target.dest, { force: true });
  }
  const part = `${target.dest}.part`;
  let have = await sizeOf(part);
  if (have > target.size) {
    await fsp.rm(part, { force: true });
    have = 0;
  }
  options.onBytes?.(have);

  const maxAttempts = options.maxAttempts ?? 5;
  let delay = options.retryDelayMs ?? 500;
  let failures = 0;
  while (have < target.size || !fs.existsSync(part)) {
    const before = have;
    try {
      await transfer(target, part, have, options);
      have = await sizeOf(part);
      if (have < target.size) throw new Error(`the transfer ended after ${have} of ${target.size} bytes`);
      break;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (final.has(err as Error)) throw err;
      have = await sizeOf(part);
      failures = have > before ? 1 : failures + 1;
      if (failures >= maxAttempts) {
        throw new GiraffeError(
          'GIRAFFE_ERR_HUB_UNAVAILABLE',
          `${target.url}: gave up after ${failures} attempts without progress at ${have} of ${target.size} bytes (${(err as Error).message}); run the pull again to resume`,
          { url: target.url },
          { cause: err },
        );
      }
      await sleep(delay, undefined, { signal: options.signal });
      delay = Math.min(delay * 2, 30_000);
    }
  }

  const problem = await checksumProblem(part, target);
  if (problem) {
    await fsp.rm(part, { force: true });
    options.onBytes?.(-have);
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_CHECKSUM_MISMATCH',
      `${path.basename(target.dest)} from ${target.url} ${problem}; the bad copy was deleted`,
      { url: target.url, file: target.dest },
    );
  }
  await fsp.rename(part, target.dest);
}
