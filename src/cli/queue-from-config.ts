import type { Config } from '../config';
import { createQueueDriver, type QueueDriver } from '../queue';
import { WebhookAllowlist } from '../webhooks';
import type { WorkerWebhookOptions } from '../worker';

/** The queue driver the settings ask for: memory without REDIS_URL, BullMQ with it. */
export function queueFromConfig(config: Config): QueueDriver {
  return createQueueDriver({
    redisUrl: config.REDIS_URL,
    prefix: config.REDIS_PREFIX,
    dataDir: config.DATA_DIR,
    results: config.RESULTS_STORE,
    retentionMs: config.RETENTION_SECONDS * 1000,
    eventHistory: config.STREAM_HISTORY_MAX,
    maxAttempts: config.JOB_MAX_ATTEMPTS,
  });
}

/** The worker's webhook settings, when WEBHOOK_SECRET turns webhooks on. */
export function webhooksFromConfig(config: Config): WorkerWebhookOptions | undefined {
  if (!config.WEBHOOK_SECRET) return undefined;
  return {
    secret: config.WEBHOOK_SECRET,
    allowlist: new WebhookAllowlist(config.WEBHOOK_ALLOWLIST),
    maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    subscriptionOf: (job) => job.webhook,
  };
}
