import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import type { Config } from '../config';
import { GiraffeError } from '../errors';
import { createLogger } from '../logging';
import { WorkerService } from '../worker';
import { queueFromConfig, webhooksFromConfig } from './queue-from-config';
import { resolveModel } from './resolve-model';

export const workerUsage = `Usage: giraffe worker [--model NAME|DIR]... [--device cpu|cuda:N] [--concurrency N]

Takes jobs from Redis (REDIS_URL) for the models it loads (default: DEFAULT_MODEL).
Run one per GPU. SIGTERM stops taking jobs and lets the running one finish
within SHUTDOWN_GRACE_MS, then hands it back to the queue.
`;

/** `giraffe worker`: loads models once and runs their jobs until told to stop. */
export async function workerCommand(argv: string[], config: Config): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', multiple: true, short: 'm' },
      device: { type: 'string' },
      concurrency: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(workerUsage);
    return 0;
  }
  if (!config.REDIS_URL) {
    throw new GiraffeError(
      'GIRAFFE_ERR_CONFIG_INVALID',
      'giraffe worker needs REDIS_URL: workers take jobs from Redis. Without it, `giraffe serve` runs its own worker.',
    );
  }
  const concurrency = values.concurrency === undefined ? 1 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16) {
    throw new GiraffeError(
      'GIRAFFE_ERR_CONFIG_INVALID',
      `--concurrency: expected an integer 1 … 16, got "${values.concurrency}"`,
    );
  }
  const logger = createLogger(config, 'giraffe-worker');
  const models = await Promise.all(
    (values.model ?? [config.DEFAULT_MODEL]).map((m) => resolveModel(m, config)),
  );
  const driver = queueFromConfig(config);
  let service: WorkerService;
  try {
    service = await WorkerService.start({
      driver,
      models,
      device: values.device ?? 'cpu',
      concurrency,
      lockDurationMs: config.JOB_LOCK_MS,
      checkpointIntervalMs: config.CHECKPOINT_INTERVAL_MS,
      prefetch: config.WORKER_PREFETCH,
      previewMinIntervalMs: config.PREVIEW_MIN_INTERVAL_MS,
      webhooks: webhooksFromConfig(config),
      intraOpThreads: config.ORT_INTRA_OP_THREADS,
      logger,
    });
  } catch (err) {
    await driver.close();
    throw err;
  }
  logger.info(
    { worker: service.id, models: models.map((m) => m.id), device: values.device ?? 'cpu', concurrency },
    'worker ready',
  );
  await new Promise<void>((resolve) => {
    closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + 10_000, logger }, async ({ signal, err }) => {
      if (err) logger.error({ err }, 'stopping after an error');
      else logger.info({ signal }, 'stopping: no new jobs, finishing the running one');
      await service.stop(config.SHUTDOWN_GRACE_MS);
      await driver.close();
      resolve();
    });
  });
  return 0;
}
