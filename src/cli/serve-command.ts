import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import { buildApp } from '../api';
import type { Config } from '../config';
import { createLogger } from '../logging';
import type { WorkerService } from '../worker';
import { queueFromConfig, webhooksFromConfig } from './queue-from-config';
import { DEMO_MODEL, resolveModel } from './resolve-model';

export const serveUsage = `Usage: giraffe serve [--host HOST] [--port PORT] [--device cpu|cuda:N]

Without REDIS_URL: the API, an in-process queue and one inference worker thread
on DEFAULT_MODEL, all in this process (results under DATA_DIR).
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
  const extraModels: Record<string, string> = {};
  let worker: WorkerService | undefined;
  if (embedded) {
    const model = await resolveModel(config.DEFAULT_MODEL, config);
    if (model.id === DEMO_MODEL) extraModels[DEMO_MODEL] = model.dir;
    // Loaded here, not at the top: an API replica (REDIS_URL set) never loads the inference engine.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a lazy load, on purpose
    const { WorkerService } = require('../worker') as typeof import('../worker');
    worker = await WorkerService.start({
      driver,
      models: [model],
      device: values.device ?? 'cpu',
      concurrency: 1,
      lockDurationMs: config.JOB_LOCK_MS,
      previewMinIntervalMs: config.PREVIEW_MIN_INTERVAL_MS,
      webhooks: webhooksFromConfig(config),
      intraOpThreads: config.ORT_INTRA_OP_THREADS,
      logger: logger.child({ component: 'worker' }),
    });
  } else if (config.DEFAULT_MODEL === DEMO_MODEL) {
    // API replicas accept `demo` jobs; the workers generate the model themselves.
    extraModels[DEMO_MODEL] = (await resolveModel(DEMO_MODEL, config)).dir;
  }

  const app = await buildApp({ config, driver, logger, extraModels });
  const host = values.host ?? config.HOST;
  const port = values.port !== undefined ? Number(values.port) : config.PORT;
  await app.listen({ host, port });
  logger.info(
    { mode: embedded ? 'embedded' : 'distributed', model: config.DEFAULT_MODEL },
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
