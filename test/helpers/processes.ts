import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import Redis from 'ioredis';

/** The built CLI, as `giraffe` runs it. */
export const giraffeBin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');

/** A child process with its output kept (for failure messages) and its exit as a promise. */
export interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Everything it wrote to stdout and stderr so far. */
  readonly output: () => string;
  /** Whether it is still running. */
  readonly alive: () => boolean;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

const children = new Set<Child>();

/** Starts a process and keeps its output; every child is killed by {@link killAll}. */
export function startChild(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      running = false;
      resolve(code);
    }),
  );
  // Keep the tail only: a soak run's logs would otherwise fill the test's memory.
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-200_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const child: Child = {
    process: proc,
    exited,
    output: () => output,
    alive: () => running,
    async kill() {
      if (running) proc.kill('SIGKILL');
      await exited;
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/** SIGKILLs every child still running (afterEach / afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill()));
}

/** Runs `node bin/giraffe.js <args>` with `env` over this process's environment. */
export function startGiraffe(args: readonly string[], env: Record<string, string>): Child {
  return startChild(process.execPath, [giraffeBin, ...args], { ...process.env, ...env });
}

/** Polls `probe` every 100 ms until it returns something truthy. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The address `giraffe serve` listens on, read from its log (start it with PORT=0, LOG_LEVEL=info). */
export async function listeningAddress(serve: Child, timeoutMs = 30_000): Promise<string> {
  return until(
    'giraffe serve to listen',
    () => {
      if (!serve.alive()) throw new Error(`giraffe serve exited:\n${serve.output()}`);
      return /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.output())?.[1];
    },
    timeoutMs,
  );
}

/** The id `giraffe worker` logged in its `worker ready` line (start it with LOG_LEVEL=info). */
export async function readyWorkerId(worker: Child, timeoutMs = 30_000): Promise<string> {
  return until(
    'giraffe worker to be ready',
    () => {
      if (!worker.alive()) throw new Error(`giraffe worker exited:\n${worker.output()}`);
      return /"worker":"([^"]+)"[^\n]*"msg":"worker ready"/.exec(worker.output())?.[1];
    },
    timeoutMs,
  );
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A private redis-server with an append-only file that is fsynced on every write. */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Starts (or restarts, on the same port and directory) the server and waits until it answers. */
  start(): Promise<void>;
  /** SIGKILL: no shutdown, no save; what is in the AOF is what survives. */
  kill(): Promise<void>;
  /** SIGSTOP: the server stops answering, its connections stay open (a hung Redis). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
}

export async function privateRedis(dir: string): Promise<PrivateRedis> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server: Child | undefined;
  return {
    url,
    port,
    dir,
    async start() {
      server = startChild(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
        ],
        process.env,
      );
      const running = server;
      await until('redis-server to answer', async () => {
        if (!running.alive()) throw new Error(`redis-server exited:\n${running.output()}`);
        const client = new Redis(url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          // Loading the AOF answers LOADING errors until it is done.
          return (await client.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          client.disconnect();
        }
      });
    },
    async kill() {
      await server?.kill();
    },
    pause() {
      server?.process.kill('SIGSTOP');
    },
    resume() {
      server?.process.kill('SIGCONT');
    },
  };
}
