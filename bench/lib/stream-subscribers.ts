/**
 * A child process of `bench/stream.ts` that holds stream subscribers and
 * notes when each preview reaches them, so the sockets' reading and decoding
 * run on event loops of their own, not on the publisher's or the server's.
 * Driven over IPC by {@link SubscriberCommand}s; every command is answered by
 * one {@link SubscriberReply}. Receive times are `performance.timeOrigin +
 * performance.now()` (ms since the epoch), which the parent compares with
 * its own publish times.
 *
 *   node --import tsx bench/lib/stream-subscribers.ts   (forked, never by hand)
 */
import Redis from 'ioredis';
import WebSocket from 'ws';
import { decodePreviewFrame } from '../../dist/client';
import { endProcess } from './end-process';

export type SubscriberCommand =
  /** Opens `count` WebSockets to `url`, each ready once its snapshot came. */
  | { readonly op: 'open'; readonly url: string; readonly count: number }
  /** Subscribes a plain ioredis connection to `channel`; messages start with a UInt32BE sequence number. */
  | { readonly op: 'redis'; readonly url: string; readonly channel: string }
  /** Hands over what was received since the last collect. */
  | { readonly op: 'collect' }
  /** Closes every socket and subscription. */
  | { readonly op: 'close' };

export type SubscriberReply =
  | { readonly op: 'opened'; readonly ok: number; readonly errors: readonly string[] }
  | { readonly op: 'subscribed' }
  | {
      readonly op: 'samples';
      /** Sequence numbers (preview steps) and their receive times, pairwise. */
      readonly seqs: readonly number[];
      readonly times: readonly number[];
      /** Sockets that closed while they should have stayed open, with their close codes. */
      readonly unexpectedCloses: readonly number[];
    }
  | { readonly op: 'closed' };

const now = (): number => performance.timeOrigin + performance.now();
/** Upgrades in flight at once: a burst of 1,000 would hit the server's listen backlog. */
const OPEN_CONCURRENCY = 50;

const sockets = new Set<WebSocket>();
let redis: Redis | undefined;
let seqs: number[] = [];
let times: number[] = [];
let unexpectedCloses: number[] = [];
let closing = false;

function openOne(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    let ready = false;
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      const at = now();
      if (isBinary) {
        // Decoded as a client would (header and image view), then noted.
        const { header } = decodePreviewFrame(data);
        seqs.push(header.step);
        times.push(at);
        return;
      }
      const message = JSON.parse(data.toString('utf8')) as { type: string };
      if (message.type === 'snapshot' && !ready) {
        ready = true;
        sockets.add(socket);
        resolve();
      }
    });
    socket.once('unexpected-response', (request, response) => {
      request.destroy();
      reject(new Error(`upgrade refused with ${response.statusCode}`));
    });
    socket.once('error', (err) => {
      if (!ready) reject(err);
    });
    socket.once('close', (code) => {
      sockets.delete(socket);
      if (!ready) reject(new Error(`closed (${code}) before its snapshot`));
      else if (!closing) unexpectedCloses.push(code);
    });
  });
}

async function open(url: string, count: number): Promise<SubscriberReply> {
  closing = false;
  const errors: string[] = [];
  let ok = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, async () => {
      while (next < count) {
        next++;
        try {
          await openOne(url);
          ok++;
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    }),
  );
  return { op: 'opened', ok, errors: errors.slice(0, 10) };
}

async function subscribeRedis(url: string, channel: string): Promise<SubscriberReply> {
  redis = new Redis(url);
  redis.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
    seqs.push(message.readUInt32BE(0));
    times.push(now());
  });
  await redis.subscribe(channel);
  return { op: 'subscribed' };
}

async function close(): Promise<SubscriberReply> {
  closing = true;
  const closed = [...sockets].map((socket) => new Promise((r) => socket.once('close', r)));
  for (const socket of sockets) socket.close(1000);
  await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 5000))]);
  for (const socket of sockets) socket.terminate();
  sockets.clear();
  redis?.disconnect();
  redis = undefined;
  return { op: 'closed' };
}

async function handle(command: SubscriberCommand): Promise<SubscriberReply> {
  switch (command.op) {
    case 'open':
      return open(command.url, command.count);
    case 'redis':
      return subscribeRedis(command.url, command.channel);
    case 'collect': {
      const reply: SubscriberReply = { op: 'samples', seqs, times, unexpectedCloses };
      seqs = [];
      times = [];
      unexpectedCloses = [];
      return reply;
    }
    case 'close':
      return close();
  }
}

process.on('message', (command: SubscriberCommand) => {
  void handle(command).then((reply) => process.send!(reply));
});
process.on('disconnect', () => endProcess(0));
