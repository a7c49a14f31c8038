import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { assertDeviceAvailable, DeviceSlots, probeWebgpu } from '../pipeline';
import type { JobRecord } from '../jobs';
import type { JobConsumer, QueueDriver, WorkerInfo } from '../queue';
import { WebhookNotifier, type WebhookNotifierOptions, type WebhookSubscription } from '../webhooks';
import { createGenerationHandler } from './generation-handler';
import { ModelHost, type ModelToServe } from './model-host';

export type { ModelToServe } from './model-host';

export interface WorkerServiceOptions {
  readonly driver: QueueDriver;
  readonly models: readonly ModelToServe[];
  /**
   * Set: the models load when a job first needs them, the least recently
   * used idle one unloading when the next would not fit these (estimated)
   * bytes, and at most `concurrency` jobs run at once across all the models,
   * which take turns. Unset: every model loads at start and has its own
   * `concurrency` slots (a GPU worker that serves a fixed list).
   */
  readonly memoryBudgetBytes?: number;
  /**
   * Models to serve besides `models`, listed again at every heartbeat (a
   * directory added to MODELS_DIR while the worker runs); only with
   * `memoryBudgetBytes`.
   */
  readonly discoverModels?: () => readonly ModelToServe[];
  /**
   * `cpu`, `webgpu` or `cuda:N`. A webgpu worker asks for its adapter at
   * start; on a GPU every model copy makes one warm-up image as it loads
   * (warm-up.ts), before the heartbeat that lists it as loaded.
   * @defaultValue `cpu`
   */
  readonly device?: string;
  /** Jobs run at once per model (across all models with `memoryBudgetBytes`), each on its own inference thread. @defaultValue 1 */
  readonly concurrency?: number;
  /** See ConsumerOptions.lockDurationMs. @defaultValue 6,000 */
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
  /** Running jobs save a checkpoint this often (CHECKPOINT_INTERVAL_MS); 0 or absent: never. @defaultValue 0 */
  readonly checkpointIntervalMs?: number;
  /**
   * Jobs claimed beyond `concurrency`, waiting ready on an inference thread for a turn on the
   * device (WORKER_PREFETCH; see {@link DeviceSlots}). @defaultValue 0
   */
  readonly prefetch?: number;
}

/** How a worker sends job webhooks (the WEBHOOK_* settings). */
export interface WorkerWebhookOptions extends Omit<WebhookNotifierOptions, 'logger'> {
  /** The webhook a job asked for, if any. */
  readonly subscriptionOf: (job: JobRecord) => WebhookSubscription | undefined;
}

/**
 * A worker: takes jobs for exactly its models (a queue per model, so it
 * never takes a job it cannot run), and announces itself — models, which of
 * them are loaded, device, current jobs — so the API knows which models are
 * served. Its models load at start, or on first use within a memory budget.
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
    private readonly host: ModelHost,
  ) {
    this.id = options.workerId ?? `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  /** Whether models load on first use (within a budget) rather than at start. */
  get #lazy(): boolean {
    return this.options.memoryBudgetBytes !== undefined;
  }

  static async start(options: WorkerServiceOptions): Promise<WorkerService> {
    const device = options.device ?? 'cpu';
    assertDeviceAvailable(device);
    // No adapter: fail now, naming the fix, even when the models load on first use.
    if (device === 'webgpu') await probeWebgpu();
    const lazy = options.memoryBudgetBytes !== undefined;
    // Set once the service exists; a model loads only after that.
    let announce = (): void => undefined;
    const host = new ModelHost(options.models, {
      device,
      copies: lazy ? 1 : (options.concurrency ?? 1),
      intraOpThreads: options.intraOpThreads,
      budgetBytes: options.memoryBudgetBytes,
      logger: options.logger,
      // GET /v1/models shows which models are loaded: say so now rather than at the next beat.
      onChange: () => announce(),
    });
    if (!lazy) {
      try {
        for (const model of options.models) await host.load(model.id);
      } catch (err) {
        await host.close();
        throw err;
      }
    }
    const service = new WorkerService(options, host);
    announce = () => service.#announce();
    service.#discover();
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
    const checkpointMs = this.options.checkpointIntervalMs ?? 0;
    const slots = this.options.concurrency ?? 1;
    // One handler per group of models sharing slots, each group with its own turns on the device.
    const handlerFor = () =>
      createGenerationHandler(this.host, driver.results, {
        previewMinIntervalMs: this.options.previewMinIntervalMs,
        checkpoints: checkpointMs > 0 ? { store: driver.checkpoints, intervalMs: checkpointMs } : undefined,
        logger,
        deviceSlots: DeviceSlots.create(slots),
      });
    const webhooks = this.options.webhooks;
    if (webhooks) {
      this.#webhooks = new WebhookNotifier(driver.events, driver.queue, {
        ...webhooks,
        logger: logger.child({ component: 'webhooks' }),
      });
    }
    // Lazy: one consumer whose slots the models share, in turn. Eager: each model its own slots.
    const groups = this.#lazy ? [this.host.models] : this.host.models.map((m) => [m]);
    for (const models of groups) {
      const handler = handlerFor();
      this.#consumers.push(
        driver.consume(
          models,
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
            // Jobs beyond the device's slots wait on their inference thread, ready (see DeviceSlots).
            concurrency: slots + (this.options.prefetch ?? 0),
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
      models: this.host.models,
      device: this.options.device ?? 'cpu',
      concurrency: this.options.concurrency ?? 1,
      started_at: this.#startedAt,
      current_jobs: this.#consumers.flatMap((c) => c.running),
      model_info: this.host.info,
      ...(this.#lazy ? { loaded: this.host.loaded } : {}),
    };
  }

  /** Serves models that appeared since the last look (lazy workers only: nothing to load now). */
  #discover(): void {
    if (!this.#lazy || !this.options.discoverModels) return;
    let found: readonly ModelToServe[];
    try {
      found = this.options.discoverModels();
    } catch (err) {
      this.options.logger.warn({ err }, 'listing the models to serve failed');
      return;
    }
    for (const model of found) {
      if (!this.host.add(model)) continue;
      this.options.logger.info({ model: model.id, dir: model.dir }, 'serving a new model');
      for (const consumer of this.#consumers) consumer.serve(model.id);
    }
  }

  /** An extra heartbeat now; a failure only waits for the next regular one. */
  #announce(): void {
    if (this.#stopping || !this.#heartbeat) return;
    this.#beat().catch((err: unknown) => this.options.logger.warn({ err }, 'heartbeat failed'));
  }

  async #beat(): Promise<void> {
    this.#discover();
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
      await this.host.close();
    })();
    return this.#stopping;
  }
}
