import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { QueueDriver } from '../queue';

export interface UnservedJobSweeperOptions {
  readonly driver: QueueDriver;
  /** How long a model may have waiting jobs and no live worker before they fail (UNSERVED_MODEL_TIMEOUT_MS). */
  readonly timeoutMs: number;
  readonly logger: Pick<Logger, 'warn' | 'debug'>;
}

/**
 * Fails the jobs of models that no live worker has served for `timeoutMs`,
 * so a job queued just before its workers went away ends with an error that
 * says why instead of waiting for ever. Every API process runs one; they
 * agree on since when a model has been unserved through the worker registry
 * (Redis in distributed mode), which forgets the moment as soon as any of
 * them sees a worker for the model again — a worker that restarts within the
 * timeout fails nothing. Two sweeps that race end each job once: a job ends
 * only if it was still waiting (or its lock had expired), and only once.
 */
export class UnservedJobSweeper {
  readonly #options: UnservedJobSweeperOptions;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(options: UnservedJobSweeperOptions) {
    this.#options = options;
  }

  /** Looks about four times per timeout (at most every 10 s), so a job fails at most a quarter late. */
  get intervalMs(): number {
    return Math.min(10_000, Math.max(50, Math.round(this.#options.timeoutMs / 4)));
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }

  /** One look: notes models with waiting jobs and no worker, fails the jobs of those unserved too long. */
  sweep(now = Date.now()): Promise<void> {
    this.#sweeping ??= this.#sweep(now)
      .catch((err: unknown) => this.#options.logger.debug({ err }, 'unserved-job sweep failed'))
      .finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweep(now: number): Promise<void> {
    const { driver, timeoutMs, logger } = this.#options;
    const [waiting, workers] = await Promise.all([driver.queue.waitingModels(), driver.workers.list()]);
    const served = new Set(workers.flatMap((w) => w.models));
    const unserved = waiting.filter((model) => !served.has(model));
    const since = await driver.workers.noteUnserved(unserved, now);
    for (const model of unserved) {
      const from = since[model] ?? now;
      if (now - from < timeoutMs) continue;
      const seconds = Math.round((now - from) / 1000);
      const ended = await driver.queue.failUnheld(model, {
        code: 'GIRAFFE_ERR_MODEL_UNSERVED',
        message:
          `no worker has served model "${model}" for ${seconds} s (UNSERVED_MODEL_TIMEOUT_MS is ${timeoutMs} ms), ` +
          `so the job never ran; start a worker for it (giraffe worker --model ${model}) and submit the job again`,
      });
      if (ended.length > 0) {
        logger.warn(
          { model, jobs: ended.length, job_ids: ended.slice(0, 20), unserved_s: seconds },
          'failed jobs for a model no worker serves',
        );
      }
    }
  }
}

/** Runs an {@link UnservedJobSweeper} while the app is up. */
export const unservedJobSweeper: FastifyPluginAsync = fp(
  async (app) => {
    const sweeper = new UnservedJobSweeper({
      driver: app.giraffe.driver,
      timeoutMs: app.giraffe.config.UNSERVED_MODEL_TIMEOUT_MS,
      logger: app.log,
    });
    app.addHook('onReady', async () => sweeper.start());
    app.addHook('onClose', async () => sweeper.stop());
  },
  { name: 'giraffe-unserved-job-sweeper' },
);
