import WebSocket from 'ws';
import {
  decodePreviewFrame,
  readServerSentEvents,
  type PreviewFrameHeader,
  type StreamMessage,
} from '../../src/client';

/** A WebSocket stream client that keeps everything it receives. */
export interface RecordingSocket {
  readonly socket: WebSocket;
  readonly messages: StreamMessage[];
  readonly previews: { header: PreviewFrameHeader; image: Buffer }[];
  /** Resolves when the socket opened; rejects with the HTTP status when the upgrade was refused. */
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Waits for a message that satisfies `test` (already received or to come). */
  next(test: (m: StreamMessage) => boolean, timeoutMs?: number): Promise<StreamMessage>;
}

/** A refused upgrade: the status and body the server answered with. */
export class RefusedUpgrade extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with ${status}: ${body}`);
  }
}

export function openSocket(url: string, headers: Record<string, string> = {}): RecordingSocket {
  const socket = new WebSocket(url, { headers });
  const messages: StreamMessage[] = [];
  const previews: { header: PreviewFrameHeader; image: Buffer }[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) previews.push(decodePreviewFrame(data));
    else messages.push(JSON.parse(data.toString('utf8')) as StreamMessage);
    for (const wake of [...waiters]) wake();
  });
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (request, response) => {
      let body = '';
      response.on('data', (c: Buffer) => (body += c.toString()));
      response.on('end', () => {
        // With this listener ws leaves the connection open: close it, or the server waits for it.
        request.destroy();
        reject(new RefusedUpgrade(response.statusCode ?? 0, body));
      });
    });
    socket.once('error', reject);
  });
  opened.catch(() => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const wake of [...waiters]) wake();
    }),
  );
  return {
    socket,
    messages,
    previews,
    opened,
    closed,
    next(test, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(test);
          if (found) {
            done();
            resolve(found);
          } else if (socket.readyState === socket.CLOSED) {
            done();
            reject(
              new Error(
                `socket closed before the message came; got ${JSON.stringify(messages.map((m) => m.type))}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out; got ${JSON.stringify(messages.map((m) => m.type))}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** An SSE event with its parsed JSON. */
export interface ReceivedSse {
  readonly event: string;
  readonly id?: string;
  readonly message: StreamMessage;
}

/** Reads an SSE stream to its end (or until `stopWhen` says so, then aborts it). */
export async function readSse(
  url: string,
  headers: Record<string, string> = {},
  stopWhen: (events: ReceivedSse[]) => boolean = () => false,
): Promise<{ status: number; events: ReceivedSse[]; contentType: string | null; body?: string }> {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  if (!response.ok || !response.body) {
    return {
      status: response.status,
      events: [],
      contentType: response.headers.get('content-type'),
      body: await response.text(),
    };
  }
  const events: ReceivedSse[] = [];
  try {
    for await (const e of readServerSentEvents(response.body)) {
      events.push({
        event: e.event,
        ...(e.id === undefined ? {} : { id: e.id }),
        message: JSON.parse(e.data) as StreamMessage,
      });
      if (stopWhen(events)) {
        abort.abort();
        break;
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
  return { status: response.status, events, contentType: response.headers.get('content-type') };
}

/** The kept events of a stream (no snapshot, no queue-position updates), in arrival order. */
export const keptEvents = (messages: readonly StreamMessage[]): StreamMessage[] =>
  messages.filter(
    (m) => m.type !== 'snapshot' && m.update !== true && typeof m.seq === 'number' && m.type !== 'error',
  );

export const finalTypes = new Set(['succeeded', 'failed', 'canceled']);
