import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { assertDeviceAvailable } from '../pipeline';
import type { JobRecord } from '../jobs';
import type { JobConsumer, QueueDriver, WorkerInfo } from '../queue';
import { WebhookNotifier, type WebhookNotifierOptions, type WebhookSubscription } from '../webhooks';
import { createGenerationHandler } from './generation-handler';
import { PipelinePool } from './pipeline-pool';

export interface ModelToServe {
  readonly id: string;
  readonly dir: string;
}

export interface WorkerServiceOptions {
  readonly driver: QueueDriver;
  readonly models: readonly ModelToServe[];
  /**
   * `cpu`, `webgpu` or `cuda:N`. On a GPU every model copy makes one
   * warm-up generation before the worker announces itself (warm-up.ts).
   * @defaultValue `cpu`
   */
  readonly device?: string;
  /** Jobs run at once per model, each on its own inference thread. @defaultValue 1 */
  readonly concurrency?: number;
  /** See ConsumerOptions.lockDurationMs. @defaultValue 30,000 */
  readonly lockDurationMs?: number;
  /** How often the worker announces itself; it counts as gone after three missed beats. @defaultValue 5,000 */
  readonly heartbeatMs?: number;
  readonly intraOpThreads?: number;
  readonly logger: Logger;
  readonly workerId?: string;
  /** Job webhooks; absent: none are sent. */
  readonly webhooks?: WorkerWebhookOptions;
  /** Previews of a job's steps are made at most this often (PREVIEW_MIN_INTERVAL_MS). @defaultValue 0 */
  readonly previewMinIntervalMs?: number;
}

/** How a worker sends job webhooks (the WEBHOOK_* settings). */
export interface WorkerWebhookOptions extends Omit<WebhookNotifierOptions, 'logger'> {
  /** The webhook a job asked for, if any. */
  readonly subscriptionOf: (job: JobRecord) => WebhookSubscription | undefined;
}

/**
 * A worker: loads its models once, then takes jobs for exactly those models
 * (a queue per model, so it never takes a job it cannot run), and announces
 * itself — models, device, current jobs — so the API can tell it is ready.
 */
export class WorkerService {
  readonly id: string;
  #consumers: JobConsumer[] = [];
  #heartbeat: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #webhooks: WebhookNotifier | undefined;
  readonly #startedAt = new Date().toISOString();

  private constructor(
    private readonly options: WorkerServiceOptions,
    private readonly pools: ReadonlyMap<string, PipelinePool>,
  ) {
    this.id = options.workerId ?? `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  static async start(options: WorkerServiceOptions): Promise<WorkerService> {
    const device = options.device ?? 'cpu';
    assertDeviceAvailable(device);
    const pools = new Map<string, PipelinePool>();
    try {
      for (const model of options.models) {
        const started = performance.now();
        pools.set(
          model.id,
          await PipelinePool.load(model.id, model.dir, {
            device,
            copies: options.concurrency ?? 1,
            intraOpThreads: options.intraOpThreads,
            warmUp: device !== 'cpu',
          }),
        );
        options.logger.info(
          { model: model.id, dir: model.dir, device, load_ms: Math.round(performance.now() - started) },
          device === 'cpu' ? 'model loaded' : 'model loaded and warmed up',
        );
      }
    } catch (err) {
      await Promise.allSettled([...pools.values()].map((p) => p.close()));
      throw err;
    }
    const service = new WorkerService(options, pools);
    await service.#beat();
    service.#consume();
    const every = options.heartbeatMs ?? 5000;
    service.#heartbeat = setInterval(() => {
      service.#beat().catch((err: unknown) => options.logger.warn({ err }, 'heartbeat failed'));
    }, every);
    service.#heartbeat.unref();
    return service;
  }

  #consume(): void {
    const { driver, logger } = this.options;
    const handler = createGenerationHandler(this.pools, driver.results, {
      previewMinIntervalMs: this.options.previewMinIntervalMs,
    });
    const webhooks = this.options.webhooks;
    if (webhooks) {
      this.#webhooks = new WebhookNotifier(driver.events, driver.queue, {
        ...webhooks,
        logger: logger.child({ component: 'webhooks' }),
      });
    }
    for (const model of this.pools.keys()) {
      this.#consumers.push(
        driver.consume(
          model,
          async (job, context) => {
            const log = logger.child({
              job_id: job.id,
              model: job.model,
              request_id: job.request_id,
              attempt: context.attempt,
            });
            log.info('job started');
            const subscription = webhooks?.subscriptionOf(job);
            if (subscription) {
              // Before the handler: the job's final event is published after it returns.
              await this.#webhooks?.watch(job, subscription, {
                type: 'started',
                worker: this.id,
                attempt: context.attempt,
                job_id: job.id,
                at: new Date().toISOString(),
              });
            }
            try {
              const result = await handler(job, context);
              log.info({ timings: result.timings }, 'job succeeded');
              return result;
            } catch (err) {
              log.warn({ err }, 'job did not succeed');
              throw err;
            }
          },
          {
            workerId: this.id,
            concurrency: this.options.concurrency ?? 1,
            lockDurationMs: this.options.lockDurationMs,
          },
        ),
      );
    }
  }

  /** What the registry shows about this worker. */
  get info(): Omit<WorkerInfo, 'heartbeat_at'> {
    return {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      models: [...this.pools.keys()],
      device: this.options.device ?? 'cpu',
      concurrency: this.options.concurrency ?? 1,
      started_at: this.#startedAt,
      current_jobs: this.#consumers.flatMap((c) => c.running),
      model_info: Object.fromEntries([...this.pools].map(([id, pool]) => [id, pool.info])),
    };
  }

  async #beat(): Promise<void> {
    const every = this.options.heartbeatMs ?? 5000;
    await this.options.driver.workers.heartbeat(this.info, every * 3);
  }

  /**
   * Stops taking jobs; running jobs get `graceMs` to finish, then go back to
   * the queue for another worker. Releases the models.
   */
  stop(graceMs = 30_000): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#heartbeat);
      await Promise.all(this.#consumers.map((c) => c.close(graceMs)));
      await this.#webhooks?.close();
      await this.options.driver.workers.remove(this.id).catch(() => undefined);
      await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
    })();
    return this.#stopping;
  }
}
