import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { isFinal, type JobRecord } from '../jobs';
import type { QueueDriver, Unsubscribe } from '../queue';

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry (the Node process metrics live in a shared one). */
    readonly giraffeMetrics: Registry;
  }
}

export interface MetricsOptions {
  /**
   * How often jobs this process is watching are re-read from the queue, so a
   * lost event (a Redis reconnect, a failed subscription) delays a job's
   * metrics instead of dropping them.
   * @defaultValue 60,000
   */
  readonly sweepMs?: number;
  /**
   * Most jobs watched at once; jobs created beyond it are not counted (a
   * bounded queue keeps the real number far below).
   * @defaultValue 10,000
   */
  readonly maxWatchedJobs?: number;
}

const methods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/** HTTP durations: a plain request takes milliseconds, `?wait=true` holds one up to 300 s. */
const httpBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Job durations: seconds on a GPU, minutes on a CPU or behind a queue. */
const jobBuckets = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];
/** One denoising step: ~10 ms for a small model on a GPU, seconds at 1024² on a CPU. */
const stepBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let processRegistry: Registry | undefined;

/**
 * Node's process metrics (CPU, memory, event-loop lag, GC, handles) with the
 * `giraffe_` prefix, in one registry per process: they describe the process,
 * and each collector installs perf_hooks observers that would pile up if
 * every app made its own.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'giraffe_' });
  }
  return processRegistry;
}

/** The job a response says it created: `X-Giraffe-Job-Id` (OpenAI route) or the 202/200 `Location` of `/v1/generate`. */
function createdJobId(request: FastifyRequest, reply: FastifyReply): string | undefined {
  if (request.method !== 'POST') return undefined;
  const header = reply.getHeader('x-giraffe-job-id');
  if (typeof header === 'string' && header.length > 0) return header;
  const location = reply.getHeader('location');
  if (reply.statusCode >= 300 || typeof location !== 'string') return undefined;
  return /^\/v1\/jobs\/([A-Za-z0-9_-]{1,64})$/.exec(location)?.[1];
}

interface Watch {
  checkedAt: number;
}

/** Ids of jobs that ended lately, kept for a job whose end is heard before its creating request has answered. */
const RECENTLY_ENDED_MAX = 4096;

/**
 * The job metrics of one API process: it watches the jobs it created (one
 * subscription to the queue's "job ended" notices tells it when one ends,
 * so watching a job costs no Redis command) and, once one has, reads the
 * final record and observes it. Each job is therefore counted once, by the process that
 * created it, however many API processes share the queue; summing over
 * processes gives the cluster's totals. A job whose creating process
 * restarted before it ended is not counted.
 */
class JobMetrics {
  readonly #watches = new Map<string, Watch>();
  readonly #recentlyEnded = new Set<string>();
  #unsubscribe: Promise<Unsubscribe> | undefined;
  readonly #finished: Counter<'model' | 'status'>;
  readonly #duration: Histogram<'model' | 'status'>;
  readonly #wait: Histogram<'model'>;
  readonly #step: Histogram<'model'>;

  constructor(
    private readonly driver: QueueDriver,
    private readonly maxWatched: number,
    registry: Registry,
  ) {
    const registers = [registry];
    this.#finished = new Counter({
      name: 'giraffe_jobs_finished_total',
      help: 'Jobs created through this API process that reached a final state, by model and status (succeeded, failed, canceled).',
      labelNames: ['model', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'giraffe_job_duration_seconds',
      help: "Time from enqueue to final state (queue wait plus run: what the client waits) of jobs created through this API process, from the job record's created_at and finished_at.",
      labelNames: ['model', 'status'],
      buckets: jobBuckets,
      registers,
    });
    this.#wait = new Histogram({
      name: 'giraffe_job_queue_wait_seconds',
      help: 'Time from enqueue to the start of the last attempt, of finished jobs created through this API process that a worker started.',
      labelNames: ['model'],
      buckets: jobBuckets,
      registers,
    });
    this.#step = new Histogram({
      name: 'giraffe_job_step_seconds',
      help: 'Mean denoising step time (U-Net call, guidance and scheduler step) of each succeeded job created through this API process, as its worker measured it: result.timings.denoise_ms / unet_calls.',
      labelNames: ['model'],
      buckets: stepBuckets,
      registers,
    });
    const watches = this.#watches;
    new Gauge({
      name: 'giraffe_jobs_watched',
      help: 'Jobs created through this API process that have not ended yet (waiting for their final event).',
      registers,
      // Read from the map on every scrape, so it cannot drift.
      collect() {
        this.set(watches.size);
      },
    });
  }

  /** Subscribes to the end of every job; until that works, the sweep finds ends from the records. */
  listen(): void {
    if (this.#unsubscribe) return;
    const subscribing = this.driver.events.subscribeEnded((id) => this.#ended(id));
    this.#unsubscribe = subscribing;
    subscribing.catch(() => {
      if (this.#unsubscribe === subscribing) this.#unsubscribe = undefined;
    });
  }

  /** Starts following a job this process created. Never throws: metrics must not fail a request. */
  watch(id: string): void {
    if (this.#watches.has(id) || this.#watches.size >= this.maxWatched) return;
    this.#watches.set(id, { checkedAt: Date.now() });
    // Ended before its request answered (`?wait=true`, the OpenAI route): the notice came first.
    if (this.#recentlyEnded.delete(id)) void this.#settle(id);
  }

  #ended(id: string): void {
    if (this.#watches.has(id)) return void this.#settle(id);
    this.#recentlyEnded.add(id);
    if (this.#recentlyEnded.size > RECENTLY_ENDED_MAX) {
      this.#recentlyEnded.delete(this.#recentlyEnded.values().next().value as string);
    }
  }

  /** Re-reads jobs not checked for `olderThanMs`: recovers from notices that never arrived. */
  async sweep(olderThanMs: number): Promise<void> {
    this.listen();
    const now = Date.now();
    const due = [...this.#watches].filter(([, w]) => now - w.checkedAt >= olderThanMs).map(([id]) => id);
    await Promise.all(due.map((id) => this.#settle(id)));
  }

  async close(): Promise<void> {
    this.#watches.clear();
    this.#recentlyEnded.clear();
    const unsubscribe = await this.#unsubscribe?.catch(() => undefined);
    this.#unsubscribe = undefined;
    await unsubscribe?.().catch(() => undefined);
  }

  /** Reads the record; observes it and stops watching once it is final (or gone). */
  async #settle(id: string): Promise<void> {
    const entry = this.#watches.get(id);
    if (!entry) return;
    entry.checkedAt = Date.now();
    let job: JobRecord | undefined;
    try {
      job = await this.driver.queue.get(id);
    } catch {
      return; // Queue unreachable: the next sweep tries again.
    }
    if (job && !isFinal(job.status)) return;
    // Only the first settle that gets here observes the job.
    if (this.#watches.get(id) !== entry) return;
    this.#watches.delete(id);
    if (job) this.#observe(job);
  }

  #observe(job: JobRecord): void {
    const seconds = (from: string, to: string | undefined): number | undefined => {
      const ms = to === undefined ? NaN : Date.parse(to) - Date.parse(from);
      return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
    };
    const labels = { model: job.model, status: job.status };
    this.#finished.inc(labels);
    const duration = seconds(job.created_at, job.finished_at);
    if (duration !== undefined) this.#duration.observe(labels, duration);
    const wait = seconds(job.created_at, job.started_at);
    if (wait !== undefined) this.#wait.observe({ model: job.model }, wait);
    const timings = job.result?.timings;
    if (job.status === 'succeeded' && timings && timings.unet_calls > 0 && timings.denoise_ms >= 0) {
      this.#step.observe({ model: job.model }, timings.denoise_ms / timings.unet_calls / 1000);
    }
  }
}

/**
 * `GET /metrics` in the Prometheus text format (0.0.4), with metrics in a
 * registry of this app's own (several apps in one process never collide):
 *
 * - `giraffe_http_requests_total` / `giraffe_http_request_duration_seconds`
 *   — requests this process answered, by method, route pattern (`unmatched`
 *   for 404s, so raw URLs never become labels) and status class (`2xx` …).
 * - `giraffe_queue_depth{model}`, `giraffe_queue_up`, `giraffe_workers{model}`
 *   — read from the queue and the worker registry on every scrape; the queue
 *   is shared, so every API process reports the same values (use `max`, not
 *   `sum`, across processes).
 * - `giraffe_jobs_finished_total`, `giraffe_job_duration_seconds`,
 *   `giraffe_job_queue_wait_seconds`, `giraffe_job_step_seconds`,
 *   `giraffe_jobs_watched` — jobs created through this process, observed
 *   from their final record (see {@link JobMetrics}); sum across processes.
 * - `giraffe_process_*`, `giraffe_nodejs_*` — prom-client's default Node
 *   metrics of this process.
 *
 * The route is public even when API keys are set: Prometheus scrapes without
 * bearer tokens in most setups, and nothing here names a job, a prompt or a
 * key. Keep it off the public internet at the proxy if that matters.
 */
export const metricsPlugin = fp<MetricsOptions>(
  async (app, options) => {
    const registry = new Registry();
    const registers = [registry];
    const { driver, catalog } = app.giraffe;

    const requests = new Counter({
      name: 'giraffe_http_requests_total',
      help: 'HTTP requests this API process answered, by method, route pattern and status class.',
      labelNames: ['method', 'route', 'status_class'],
      registers,
    });
    const durations = new Histogram({
      name: 'giraffe_http_request_duration_seconds',
      help: 'Time from receiving an HTTP request to having sent the response, by method, route pattern and status class.',
      labelNames: ['method', 'route', 'status_class'],
      buckets: httpBuckets,
      registers,
    });
    const depth = new Gauge({
      name: 'giraffe_queue_depth',
      help: 'Jobs waiting (not yet running) per model, read from the shared queue at scrape time (every API process reports the same value).',
      labelNames: ['model'],
      registers,
    });
    const queueUp = new Gauge({
      name: 'giraffe_queue_up',
      help: 'Whether the queue (Redis, or the in-process queue) answered at scrape time: 1 yes, 0 no.',
      registers,
    });
    const workers = new Gauge({
      name: 'giraffe_workers',
      help: 'Workers announcing each model at scrape time.',
      labelNames: ['model'],
      registers,
    });
    const jobs = new JobMetrics(driver, options.maxWatchedJobs ?? 10_000, registry);
    jobs.listen();
    // Read at scrape time, so an app without streams (a test's bare one) reports none.
    const streams = (): typeof app.giraffe.streams | undefined => app.giraffe.streams;
    new Gauge({
      name: 'giraffe_stream_clients',
      help: 'Progress-stream connections open on this API process, by transport.',
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        const count = streams()?.connections.count ?? { websocket: 0, sse: 0 };
        this.set({ transport: 'websocket' }, count.websocket);
        this.set({ transport: 'sse' }, count.sse);
      },
    });
    new Counter({
      name: 'giraffe_stream_previews_total',
      help: 'Previews sent to stream clients by this API process, and dropped for clients that read too slowly.',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        const previews = streams()?.hub.previews ?? { sent: 0, dropped: 0 };
        this.reset();
        this.inc({ outcome: 'sent' }, previews.sent);
        this.inc({ outcome: 'dropped' }, previews.dropped);
      },
    });
    new Gauge({
      name: 'giraffe_stream_jobs_followed',
      help: 'Jobs this API process follows on the event bus for its stream clients (one subscription each).',
      registers: [registry],
      collect() {
        this.set(streams()?.hub.size.jobs ?? 0);
      },
    });

    /** Sets the gauges that read shared state; a queue that does not answer shows as `giraffe_queue_up 0`. */
    async function refreshGauges(): Promise<void> {
      let read: { models: { id: string; workers: number }[]; depths: number[] } | undefined;
      try {
        if (!(await driver.ping())) throw new Error('queue did not answer');
        const models = await catalog.list();
        read = { models, depths: await Promise.all(models.map((m) => driver.queue.depth(m.id))) };
      } catch (err) {
        app.log.warn({ err }, 'metrics: the queue did not answer');
      }
      // Reset and set in one synchronous stretch: a model that went away loses its series, and a
      // concurrent scrape never sees the gauges half-filled.
      depth.reset();
      workers.reset();
      queueUp.set(read ? 1 : 0);
      read?.models.forEach((m, i) => {
        depth.set({ model: m.id }, read.depths[i]);
        workers.set({ model: m.id }, m.workers);
      });
    }

    app.decorate('giraffeMetrics', registry);

    app.addHook('onResponse', async (request, reply) => {
      const labels = {
        method: methods.has(request.method) ? request.method : 'OTHER',
        route: request.routeOptions.url ?? 'unmatched',
        status_class: `${Math.floor(reply.statusCode / 100)}xx`,
      };
      requests.inc(labels);
      durations.observe(labels, reply.elapsedTime / 1000);
      const created = createdJobId(request, reply);
      if (created) jobs.watch(created);
    });

    const sweepMs = options.sweepMs ?? 60_000;
    const sweeper = setInterval(() => void jobs.sweep(sweepMs).catch(() => undefined), sweepMs);
    sweeper.unref();
    app.addHook('onClose', async () => {
      clearInterval(sweeper);
      await jobs.close();
    });

    app.get(
      '/metrics',
      {
        config: { public: true },
        schema: {
          tags: ['health'],
          operationId: 'getMetrics',
          summary: 'Prometheus metrics',
          description:
            'HTTP, queue, job and Node process metrics in the Prometheus text format 0.0.4, for scraping. ' +
            'Needs no API key (Prometheus scrapes without one in most setups); it names no job, prompt ' +
            'or key. Job metrics count the jobs created through the API process that answers.',
          response: {
            200: {
              description: 'The metrics.',
              content: { 'text/plain; version=0.0.4': { schema: z.string() } },
            },
          },
        },
      },
      async (_request, reply) => {
        await refreshGauges();
        const merged = Registry.merge([processMetrics(), registry]);
        return reply.type(merged.contentType).send(await merged.metrics());
      },
    );
  },
  { name: 'giraffe-metrics', dependencies: ['giraffe-problems'] },
);
