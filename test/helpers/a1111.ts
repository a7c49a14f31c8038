import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDemoService, type DemoService } from './demo-service';
import { writeSlowModel } from './slow-model';

/** `Authorization: Basic` as A1111 clients build it from `user:password` (the key is the password). */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A listening giraffe with API keys and a real worker: what an A1111 client talks to. */
export interface A1111Server {
  readonly service: DemoService;
  /** `http://127.0.0.1:PORT`, what a user types in a client's A1111 URL field. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the embedded service (memory driver, a real worker) on loopback
 * with `keys` as API_KEYS. `slowStepMs` adds a model `slow` whose U-Net
 * steps take about that long, for progress and interrupt tests.
 */
export async function startA1111Server(
  keys: readonly string[],
  options: { slowStepMs?: number; env?: Record<string, string> } = {},
): Promise<A1111Server> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-a1111-'));
  const models: Record<string, string> = {};
  if (options.slowStepMs !== undefined) {
    models.slow = path.join(tmp, 'slow');
    await writeSlowModel(models.slow, path.join(tmp, 'data'), options.slowStepMs);
  }
  const service = await startDemoService({
    env: { API_KEYS: keys.join(','), ORT_INTRA_OP_THREADS: '1', ...options.env },
    models,
  });
  const url = await service.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    service,
    url,
    async close() {
      // A test that abandons a request (as a client that hangs up does) can leave its
      // keep-alive connection looking busy; do not wait the 72 s keep-alive timeout for it.
      service.app.server.closeAllConnections();
      await service.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
