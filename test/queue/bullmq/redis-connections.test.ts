import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';

// Issue 17, item 23: jest's "a worker process has failed to exit gracefully". A
// connection closed while it was reconnecting (Redis away, or frozen and
// dropped) left a 2 s ioredis timer behind, which kept the process alive
// after everything else had stopped. A process of its own closes one and must
// then exit by itself; an unref'd probe a second later says whether it was
// still alive, and on what.

const run = promisify(execFile);
const source = path.resolve(__dirname, '../../../src/queue/bullmq/redis-connections.ts');

/** A port nothing listens on: connections to it are refused at once. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

it.each(['api', 'subscriber', 'worker'] as const)(
  'a process that closed a %s connection while it was reconnecting exits by itself at once',
  async (role) => {
    const script = `
      const { openRedis, closeRedis } = require(${JSON.stringify(source)});
      const redis = openRedis('redis://127.0.0.1:${await deadPort()}', ${JSON.stringify(role)});
      redis.once('reconnecting', async () => {
        await closeRedis(redis);
        console.log('closed');
        setTimeout(() => console.log('still alive on', process.getActiveResourcesInfo().join(' ')), 1000).unref();
      });`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '-e', script], { timeout: 20_000 });
    expect(stdout.trim()).toBe('closed');
  },
);
