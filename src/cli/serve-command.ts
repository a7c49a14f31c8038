import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import { buildApp } from '../api';
import type { Config } from '../config';
import { createLogger } from '../logging';
import type { WorkerService } from '../worker';
import { ensureBuiltInModels } from './built-in-models';
import { queueFromConfig } from './queue-from-config';

export const serveUsage = `Usage: giraffe serve [--host HOST] [--port PORT] [--device cpu|webgpu|cuda:N]

Without REDIS_URL: the API, an in-process queue and one inference worker that
serves every model in MODELS_DIR and the built-in ones, each loaded on first
use within MODEL_MEMORY_BUDGET_MB, all in this process (results under DATA_DIR).
With REDIS_URL: the API only; run \`giraffe worker\` processes beside it.
`;

/** `giraffe serve`: the HTTP API, plus an in-process worker in embedded mode. */
export async function serveCommand(argv: string[], config: Config): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      device: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(serveUsage);
    return 0;
  }
  const logger = createLogger(config);
  const embedded = config.REDIS_URL === undefined;
  const driver = queueFromConfig(config);
  let extraModels: Record<string, string>;
  let worker: WorkerService | undefined;
  if (embedded) {
    // Loaded here, not at the top: an API replica (REDIS_URL set) never loads the inference engine.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load, on purpose
    const { startEmbeddedWorker } = require('./served-models') as typeof import('./served-models');
    const started = await startEmbeddedWorker(config, driver, logger.child({ component: 'worker' }), {
      device: values.device,
    });
    worker = started.worker;
    extraModels = started.builtIn;
  } else {
    // The catalogue reads the built-in models' defaults from their files; the workers generate their own.
    extraModels = await ensureBuiltInModels(config.DATA_DIR);
  }

  const app = await buildApp({ config, driver, logger, extraModels });
  const host = values.host ?? config.HOST;
  const port = values.port !== undefined ? Number(values.port) : config.PORT;
  await app.listen({ host, port });
  logger.info(
    {
      mode: embedded ? 'embedded' : 'distributed',
      model: config.DEFAULT_MODEL,
      ...(worker ? { models: worker.info.models } : {}),
    },
    'giraffe is serving',
  );

  await new Promise<void>((resolve) => {
    closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + 10_000, logger }, async ({ signal, err }) => {
      if (err) logger.error({ err }, 'shutting down after an error');
      else logger.info({ signal }, 'shutting down');
      await app.close();
      await worker?.stop(config.SHUTDOWN_GRACE_MS);
      await driver.close();
      resolve();
    });
  });
  return 0;
}
