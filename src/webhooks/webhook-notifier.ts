import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { isGiraffeError } from '../errors';
import { finalEventTypes, type JobEventDraft, type JobRecord } from '../jobs';
import type { EventBus, JobQueue, Unsubscribe } from '../queue';
import { WebhookAllowlist } from './address-guard';
import { postWebhook, type ResolveHost } from './http-post';
import { deriveWebhookSecret, SIGNATURE_HEADER, signPayload } from './signature';
import type { WebhookEventType, WebhookSubscription } from '../jobs/job-request';
import { webhookEvent, webhookResult, type WebhookEvent, type WebhookResult } from './webhook-privacy';

export interface WebhookNotifierOptions {
  /** WEBHOOK_SECRET: each owner's signing secret is derived from it (see `deriveWebhookSecret`). */
  readonly secret: string;
  /** WEBHOOK_ALLOWLIST: non-public destinations that may still be reached. @defaultValue none */
  readonly allowlist?: WebhookAllowlist | string;
  /** Attempts per delivery, the first included. @defaultValue 5 */
  readonly maxAttempts?: number;
  /** Limit of one attempt (connect, send, answer), in ms. @defaultValue 10,000 */
  readonly timeoutMs?: number;
  /** Wait before the second attempt; doubles per attempt (1 s, 2 s, 4 s, 8 s). @defaultValue 1,000 */
  readonly backoffMs?: number;
  /** Host name resolution, replaceable in tests. @defaultValue `dns.lookup` with `all: true` */
  readonly resolve?: ResolveHost;
  readonly logger: Logger;
}

/** What a receiver gets: the body of every delivery. */
export interface WebhookPayload {
  /** Delivery id, the same on every attempt of one delivery: receivers deduplicate on it. */
  readonly id: string;
  readonly type: WebhookEventType;
  readonly created_at: string;
  readonly job: WebhookJob;
  /** The job event that caused the delivery (with its `seq`, except the worker's own `started`). */
  readonly event: WebhookEvent;
}

/**
 * The job as a webhook shows it: its state without the request, and its result without the prompts
 * unless the job asked for them (see `webhookResult`): prompts stay out of third-party logs.
 */
export type WebhookJob = Pick<JobRecord, 'id' | 'model' | 'status' | 'created_at' | 'attempts'> &
  Partial<Pick<JobRecord, 'started_at' | 'finished_at' | 'progress' | 'error' | 'request_id'>> & {
    readonly result?: WebhookResult;
  };

function webhookJob(record: JobRecord, includePrompt: boolean): WebhookJob {
  const {
    id,
    model,
    status,
    created_at,
    attempts,
    started_at,
    finished_at,
    progress,
    result,
    error,
    request_id,
  } = record;
  return {
    id,
    model,
    status,
    created_at,
    attempts,
    started_at,
    finished_at,
    progress,
    result: result && webhookResult(result, includePrompt),
    error,
    request_id,
  };
}

/** One job's deliveries: sent one after another, so a receiver sees them in order. */
interface Watch {
  readonly job: JobRecord;
  readonly subscription: WebhookSubscription;
  tail: Promise<void>;
  pending: number;
  unsubscribe?: Unsubscribe;
}

/**
 * Sends a job's webhooks from the worker that runs it. `started` is sent at
 * once; `progress` and `completed` follow the job's events on the bus (the
 * final state is decided by the queue driver after the handler returns).
 * Deliveries run beside the job and never hold the denoising loop: a
 * progress delivery is dropped while another delivery of the job is still
 * under way, and the rest wait their turn in a per-job chain.
 */
export class WebhookNotifier {
  readonly #options: WebhookNotifierOptions;
  readonly #allowlist: WebhookAllowlist;
  readonly #watches = new Set<Watch>();
  readonly #closed = new AbortController();

  constructor(
    private readonly events: EventBus,
    private readonly queue: Pick<JobQueue, 'get'>,
    options: WebhookNotifierOptions,
  ) {
    this.#options = options;
    this.#allowlist =
      options.allowlist instanceof WebhookAllowlist
        ? options.allowlist
        : WebhookAllowlist.parse(options.allowlist);
  }

  /**
   * Starts sending a job's webhooks; call it as the job starts (before the
   * handler runs, so that its final event is not missed). Never throws:
   * webhooks must not fail a job.
   */
  async watch(job: JobRecord, subscription: WebhookSubscription, started: JobEventDraft): Promise<void> {
    if (this.#closed.signal.aborted) return;
    const watch: Watch = { job, subscription, tail: Promise.resolve(), pending: 0 };
    const wants = new Set(subscription.events);
    if (wants.has('started')) this.#enqueue(watch, 'started', started);
    if (!wants.has('progress') && !wants.has('completed')) return;
    this.#watches.add(watch);
    try {
      watch.unsubscribe = await this.events.subscribe(job.id, (event) => {
        if (event.type === 'preview') return;
        if (event.type === 'started' && event.attempt !== job.attempts) {
          // Another attempt has started (this worker was stopped or lost its lock): its worker sends now.
          this.#options.logger.info(
            { job_id: job.id, attempt: job.attempts, taken_by: event.attempt },
            'webhook: another attempt took the job',
          );
          return this.#unwatch(watch);
        }
        if (event.type === 'progress') {
          if (wants.has('progress') && watch.pending === 0) this.#enqueue(watch, 'progress', event);
        } else if (finalEventTypes.has(event.type)) {
          if (wants.has('completed')) this.#enqueue(watch, 'completed', event);
          this.#unwatch(watch);
        } else if (event.type === 'queued') {
          // Retried or handed back: the worker that runs the next attempt watches it.
          this.#unwatch(watch);
        }
      });
    } catch (err) {
      this.#watches.delete(watch);
      this.#options.logger.warn({ err, job_id: job.id }, 'webhook: could not follow the job');
    }
  }

  #unwatch(watch: Watch): void {
    this.#watches.delete(watch);
    // The bus is delivering to the listener right now; leave its loop first.
    setImmediate(() => void watch.unsubscribe?.().catch(() => undefined));
  }

  #enqueue(watch: Watch, type: WebhookEventType, event: JobEventDraft): void {
    watch.pending += 1;
    watch.tail = watch.tail
      .then(() => this.#deliver(watch, type, event))
      .finally(() => {
        watch.pending -= 1;
      });
  }

  async #deliver(watch: Watch, type: WebhookEventType, event: JobEventDraft): Promise<void> {
    const { logger } = this.#options;
    const log = logger.child({ job_id: watch.job.id, webhook: type });
    try {
      const record = (await this.queue.get(watch.job.id).catch(() => undefined)) ?? watch.job;
      if (type === 'completed' && record.attempts !== watch.job.attempts) {
        // The fenced ending decides who sends: the attempt that ended the job is the record's, and
        // that attempt's worker sends `completed`. This one was overtaken while it was stopped.
        log.info(
          { attempt: watch.job.attempts, ended_by: record.attempts },
          'webhook: another attempt ended the job',
        );
        return;
      }
      const include = watch.subscription.include_prompt === true;
      const payload: WebhookPayload = {
        id: deliveryId(watch.job, type, event),
        type,
        created_at: new Date().toISOString(),
        job: webhookJob(record, include),
        event: webhookEvent(event, include),
      };
      const secret = deriveWebhookSecret(this.#options.secret, watch.job.owner);
      await this.#send(watch.subscription.url, JSON.stringify(payload), payload.id, secret, log);
    } catch (err) {
      log.warn({ err }, 'webhook not delivered');
    }
  }

  /** Attempts a delivery until it succeeds, is refused, or runs out of attempts. */
  async #send(url: string, body: string, id: string, secret: string, log: Logger): Promise<void> {
    const attempts = this.#options.maxAttempts ?? 5;
    const backoff = this.#options.backoffMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        // Signed per attempt: a retry hours later still carries a fresh timestamp.
        const signature = signPayload(secret, body, Math.floor(Date.now() / 1000));
        await postWebhook(
          url,
          body,
          {
            [SIGNATURE_HEADER]: signature,
            'Giraffe-Webhook-Id': id,
            'Giraffe-Webhook-Attempt': String(attempt),
          },
          {
            allowlist: this.#allowlist,
            timeoutMs: this.#options.timeoutMs ?? 10_000,
            resolve: this.#options.resolve,
          },
        );
        log.debug({ attempt }, 'webhook delivered');
        return;
      } catch (err) {
        const retryable = !isGiraffeError(err) || err.retryable;
        if (!retryable || attempt >= attempts || this.#closed.signal.aborted) throw err;
        log.info({ err, attempt }, 'webhook attempt failed; retrying');
        await sleep(backoff * 2 ** (attempt - 1), this.#closed.signal);
      }
    }
  }

  /** Stops following jobs and cuts retry waits short; deliveries under way finish (bounded by their timeout). */
  async close(): Promise<void> {
    this.#closed.abort();
    const watches = [...this.#watches];
    this.#watches.clear();
    await Promise.allSettled(watches.map((w) => w.unsubscribe?.()));
    await Promise.allSettled(watches.map((w) => w.tail));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A delivery's id, the same whoever makes it and however often: one per job
 * for `completed`, one per attempt for `started`, one per event for
 * `progress`. Receivers deduplicate on it, so even a delivery made twice (a
 * worker that resumed after its job had moved on) is taken once.
 */
function deliveryId(job: JobRecord, type: WebhookEventType, event: JobEventDraft): string {
  const which =
    type === 'completed'
      ? 'completed'
      : type === 'started'
        ? `started:${job.attempts}`
        : `progress:${(event as { seq?: number }).seq ?? event.at}`;
  const hex = createHash('sha256').update(`${job.id}\n${which}`).digest('hex');
  // UUID-shaped (version 8: custom), as the ids were before.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
