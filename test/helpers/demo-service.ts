import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/api';
import { webhooksFromConfig } from '../../src/cli/queue-from-config';
import { loadConfig, type Config } from '../../src/config';
import { ensureDemoModel } from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';

/** The embedded service as tests use it: API + memory queue (+ a real worker on the demo model). */
export interface DemoService {
  readonly app: FastifyInstance;
  readonly driver: QueueDriver;
  readonly worker: WorkerService | undefined;
  readonly config: Config;
  readonly demoDir: string;
  /** Stops everything and removes the service's temporary directory. */
  close(): Promise<void>;
}

/**
 * Starts the API on the memory driver in a temporary directory, with a real
 * inference worker on the demo model unless `worker: false`. `env` adds
 * settings as environment strings (API_KEYS, WEBHOOK_SECRET, …).
 */
export async function startDemoService(
  options: {
    env?: Record<string, string>;
    worker?: boolean;
    /** More models (id → directory) the API accepts and the worker serves. */
    models?: Record<string, string>;
  } = {},
): Promise<DemoService> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-service-'));
  const config = loadConfig({
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const demoDir = await ensureDemoModel(config.DATA_DIR);
  // REDIS_URL in `env`: the distributed driver (give REDIS_PREFIX too, and delete its keys after).
  const driver = createQueueDriver({
    redisUrl: config.REDIS_URL,
    prefix: config.REDIS_PREFIX,
    dataDir: config.DATA_DIR,
    eventHistory: config.STREAM_HISTORY_MAX,
  });
  const logger = pino({ level: 'silent' });
  const models = { demo: demoDir, ...options.models };
  const app = await buildApp({ config, driver, logger, extraModels: models });
  const worker =
    options.worker === false
      ? undefined
      : await WorkerService.start({
          driver,
          models: Object.entries(models).map(([id, dir]) => ({ id, dir })),
          logger,
          webhooks: webhooksFromConfig(config),
        });
  return {
    app,
    driver,
    worker,
    config,
    demoDir,
    async close() {
      await app.close();
      await worker?.stop(0);
      await driver.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
