import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { killAll, listeningAddress, startGiraffe, until, type Child } from '../helpers/processes';

// Issue 8, abuse without WebSockets: slow-loris clients and a flood past the rate limit against a
// real `giraffe serve` process (embedded mode: API, queue and demo worker in one process) on
// loopback. A well-behaved client must keep getting answers. No timing is asserted beyond
// generous bounds; the server's own timeouts are what close the slow sockets.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-abuse-'));
const FLOOD_KEY = 'flood-key-0123456789';
const GOOD_KEY = 'good-key-0123456789';
const RATE_LIMIT = 40;
let serve: Child;
let base: string;
let port: number;

beforeAll(async () => {
  serve = startGiraffe(['serve', '--host', '127.0.0.1', '--port', '0'], {
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    ORT_INTRA_OP_THREADS: '1',
    // Two keys: on loopback every client has the same address, and limits count per key.
    API_KEYS: `${FLOOD_KEY},${GOOD_KEY}`,
    RATE_LIMIT_MAX: String(RATE_LIMIT),
    RATE_LIMIT_WINDOW_MS: '60000',
    LOG_LEVEL: 'info',
  });
  base = await listeningAddress(serve, 60_000);
  port = Number(new URL(base).port);
}, 90_000);

afterAll(async () => {
  await killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const generateBody = JSON.stringify({ prompt: 'a polite giraffe', steps: 2, width: 64, height: 64 });

function call(key: string, method: string, url: string, body?: string): Promise<Response> {
  return fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
    signal: AbortSignal.timeout(20_000),
  });
}

/** What a well-behaved client does: submits a job and reads it back, a few times; every answer it got. */
async function politeClient(rounds: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const created = await call(GOOD_KEY, 'POST', '/v1/generate', generateBody);
    statuses.push(created.status);
    const { id } = (await created.json()) as { id: string };
    statuses.push((await call(GOOD_KEY, 'GET', `/v1/jobs/${id}`)).status);
    statuses.push((await fetch(`${base}/healthz`)).status);
  }
  return statuses;
}

/** A slow-loris socket: a request line, then one header byte at a time, never finished. */
function slowLoris(): { trickling: Promise<void>; closed: Promise<string>; stop: () => void } {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('error', () => undefined);
  const header = 'X-Slow: ' + 'a'.repeat(10_000);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let firstByte: () => void = () => undefined;
  // Settles once the socket has connected, sent its request line and its first header byte.
  const trickling = new Promise<void>((resolve) => (firstByte = resolve));
  socket.once('connect', () => {
    socket.write('GET /healthz HTTP/1.1\r\nHost: giraffe\r\n');
    timer = setInterval(() => socket.write(header[sent++ % header.length], () => firstByte()), 250);
  });
  const closed = new Promise<string>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      firstByte(); // a socket closed before it trickled: the test below sees it among the closed ones
      resolve(received);
    }),
  );
  return {
    trickling,
    closed,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

it('slow-loris sockets do not starve a well-behaved client, and the server closes them itself', async () => {
  const lorises = Array.from({ length: 300 }, () => slowLoris());
  try {
    // Every one of them connected and trickling before the polite client comes.
    await Promise.all(lorises.map((l) => l.trickling));
    const statuses = await politeClient(5);
    expect(statuses).toEqual(Array(5).fill([202, 200, 200]).flat());
    // The headers timeout closes every one of them, with a 408 where the socket still reads.
    const replies = await until(
      'the server to close every slow socket',
      async () => {
        const settled = await Promise.all(
          lorises.map((l) =>
            Promise.race([l.closed, new Promise<undefined>((r) => setImmediate(() => r(undefined)))]),
          ),
        );
        return settled.every((s) => s !== undefined) && (settled as string[]);
      },
      // The headers timeout is 10 s, checked every 2 s; Node's own default would be 60 s.
      40_000,
    );
    expect(replies.filter((r) => r.startsWith('HTTP/1.1 408')).length).toBeGreaterThan(0);
    expect(serve.alive()).toBe(true);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  } finally {
    for (const l of lorises) l.stop();
  }
}, 90_000);

it('a flood past the rate limit gets 429s while another client keeps being served', async () => {
  const floodStatuses: number[] = [];
  let retryAfter: string | null = null;
  let flooding = true;
  const flood = Promise.all(
    Array.from({ length: 16 }, async () => {
      while (flooding) {
        const response = await call(FLOOD_KEY, 'GET', '/v1/jobs');
        floodStatuses.push(response.status);
        if (response.status === 429) {
          retryAfter = response.headers.get('retry-after');
          expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        }
        await response.arrayBuffer();
      }
    }),
  );
  try {
    await until('the flood to hit the limit', () => floodStatuses.includes(429));
    const statuses = await politeClient(5);
    expect(statuses).toEqual(Array(5).fill([202, 200, 200]).flat());
  } finally {
    flooding = false;
    await flood;
  }
  // The flooder got its allowance, then only 429s with a Retry-After.
  expect(floodStatuses.filter((s) => s === 200)).toHaveLength(RATE_LIMIT);
  expect(new Set(floodStatuses)).toEqual(new Set([200, 429]));
  expect(Number(retryAfter)).toBeGreaterThan(0);
  expect(serve.alive()).toBe(true);
}, 90_000);
