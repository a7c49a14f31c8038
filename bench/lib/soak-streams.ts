import WebSocket from 'ws';
import { decodePreviewFrame, type StreamMessage } from '../../dist/client';
import type { JobRecord } from '../../dist/jobs';

/** What one stream client saw of one job, from the upgrade to the close. */
export interface StreamRecord {
  readonly jobId: string;
  /** JSON messages in arrival order. */
  readonly messages: StreamMessage[];
  /** Preview frames, with the `seq` each carried and the index of the message it came after. */
  readonly previews: { seq: number; after: number }[];
  /** Close code; undefined when the socket errored or the client gave up. */
  closeCode?: number;
  /** Transport errors and timeouts. */
  error?: string;
}

/** A stream that broke the protocol or disagreed with its job's record. */
export interface StreamProblem {
  readonly jobId: string;
  readonly problem: string;
}

const finalTypes = new Set(['succeeded', 'failed', 'canceled']);

/**
 * Soak's streaming clients: `clients` WebSocket clients, each taking the
 * next job handed to {@link add} from a shared list, reading its stream
 * (`links.stream?token=…`) to the end, then taking another. Each job is
 * followed `perJob` times (by different clients, at different moments), so
 * the clients stay busy even when fewer jobs than clients are unfinished.
 */
export class SoakStreams {
  readonly records: StreamRecord[] = [];
  readonly #pending: { id: string; url: string }[] = [];
  readonly #waiters = new Set<() => void>();
  #closed = false;
  readonly #done: Promise<void>;

  constructor(
    clients: number,
    private readonly perJob: number,
    private readonly timeoutMs: number,
  ) {
    this.#done = Promise.all(Array.from({ length: clients }, () => this.#client())).then(() => undefined);
  }

  /** A job accepted by the API: its id, the API's address, its stream link and token (from the 202). */
  add(base: string, job: { id: string; links: { stream: string }; stream_token: string }): void {
    const url = new URL(job.links.stream, base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', job.stream_token);
    for (let i = 0; i < this.perJob; i++) this.#pending.push({ id: job.id, url: url.toString() });
    this.#wake();
  }

  /** No more jobs will come: resolves when every stream has been read to its end. */
  finish(): Promise<void> {
    this.#closed = true;
    this.#wake();
    return this.#done;
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  async #client(): Promise<void> {
    for (;;) {
      const next = this.#pending.shift();
      if (next) {
        this.records.push(await readStream(next.id, next.url, this.timeoutMs));
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }
}

function readStream(jobId: string, url: string, timeoutMs: number): Promise<StreamRecord> {
  const record: StreamRecord = { jobId, messages: [], previews: [] };
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => {
      record.error = `no close within ${timeoutMs} ms`;
      socket.terminate();
    }, timeoutMs);
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        if (isBinary) {
          record.previews.push({ seq: decodePreviewFrame(data).header.seq, after: record.messages.length });
        } else {
          record.messages.push(JSON.parse(data.toString('utf8')) as StreamMessage);
        }
      } catch (err) {
        record.error = `undecodable frame: ${err instanceof Error ? err.message : String(err)}`;
      }
    });
    socket.once('unexpected-response', (request, response) => {
      record.error = `upgrade refused with ${response.statusCode}`;
      request.destroy();
    });
    socket.on('error', (err) => (record.error ??= err.message));
    socket.once('close', (code) => {
      clearTimeout(timer);
      if (record.error === undefined) record.closeCode = code;
      resolve(record);
    });
  });
}

/**
 * What is wrong with one stream, given its job's final record: it must open
 * with a snapshot; its kept events must continue the snapshot's `seq` with
 * no gap and no repeat; its job must end exactly once (a final event, or a
 * snapshot of a job already ended, and nothing after it), as the record says;
 * and the socket must close with 1000. Empty when all is well.
 */
export function streamProblems(stream: StreamRecord, job: JobRecord | undefined): string[] {
  const problems: string[] = [];
  if (stream.error) problems.push(stream.error);
  const [first, ...rest] = stream.messages;
  if (first?.type !== 'snapshot') return [...problems, `first message is ${first?.type ?? 'missing'}`];
  if (stream.previews.some((p) => p.after === 0)) problems.push('a preview came before the snapshot');
  let seq = first.seq ?? 0;
  const snapshotJob = first.job as { status?: string } | undefined;
  const finals: StreamMessage[] = snapshotJob?.status && finalTypes.has(snapshotJob.status) ? [first] : [];
  for (const message of rest) {
    if (finals.length > 0) {
      problems.push(`${message.type} after the job ended`);
      continue;
    }
    // A queue-position update repeats the `seq` of the `queued` event it updates.
    if (message.update === true) {
      if (message.seq !== seq) problems.push(`position update with seq ${message.seq}, expected ${seq}`);
      continue;
    }
    if (message.seq !== seq + 1) problems.push(`${message.type} has seq ${message.seq} after ${seq}`);
    seq = typeof message.seq === 'number' ? message.seq : seq;
    if (finalTypes.has(message.type)) finals.push(message);
  }
  if (finals.length !== 1) problems.push(`${finals.length} final states`);
  if (stream.closeCode !== undefined && stream.closeCode !== 1000)
    problems.push(`closed with ${stream.closeCode}`);
  const final = finals[0];
  if (final && job) {
    const status = final.type === 'snapshot' ? snapshotJob?.status : final.type;
    if (status !== job.status) problems.push(`ended ${status}, the record says ${job.status}`);
    const result = (final.type === 'snapshot' ? (final.job as { result?: unknown }).result : final.result) as
      { seed?: number; images?: unknown[] } | undefined;
    if (
      job.result &&
      (result?.seed !== job.result.seed || result?.images?.length !== job.result.images.length)
    ) {
      problems.push('its result differs from the record');
    }
  }
  return problems;
}
