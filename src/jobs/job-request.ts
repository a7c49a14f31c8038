import { z } from 'zod';
import { generateRequestSchema, type ResolvedRequest } from '../pipeline/contract';

/** Model ids are directory names under MODELS_DIR (or `demo`): no paths. */
export const modelIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a model name: letters, digits, ".", "_" and "-"');

/** What a queued job carries: the request with every default filled in and the seed fixed. */
export type ResolvedJobRequest = ResolvedRequest;

/** What a job may report to its webhook. `completed`: the job ended (succeeded, failed or canceled). */
export const webhookEventTypes = ['started', 'progress', 'completed'] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** Longest `webhook_url` accepted. */
export const MAX_WEBHOOK_URL_CHARS = 2048;

/**
 * Why `url` cannot be a webhook destination, or undefined when its shape is
 * fine: `http:` or `https:`, a host, no user name or password (they would be
 * logged and sent in the clear), at most 2048 characters. Where the host
 * points (public or private addresses) is checked at delivery, when the
 * worker resolves it.
 */
export function webhookUrlProblem(url: string): string | undefined {
  if (url.length > MAX_WEBHOOK_URL_CHARS) return `must be at most ${MAX_WEBHOOK_URL_CHARS} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'must be an http or https URL';
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password';
  if (parsed.hostname === '') return 'must name a host';
  return undefined;
}

/**
 * The webhook fields of a job request, meant to be spread into
 * {@link jobRequestSchema} once the job record can carry them (see
 * `webhookSubscriptionOf`). `webhook_events` defaults to `['completed']`.
 */
export const webhookRequestFields = {
  webhook_url: z
    .string()
    .max(MAX_WEBHOOK_URL_CHARS)
    .superRefine((url, ctx) => {
      const problem = webhookUrlProblem(url);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  webhook_events: z
    .array(z.enum(webhookEventTypes))
    .min(1)
    .max(webhookEventTypes.length)
    .refine((events) => new Set(events).size === events.length, { message: 'must not repeat an event' })
    .optional(),
};

/** Where a job's webhooks go and which of its events are sent. */
export interface WebhookSubscription {
  readonly url: string;
  readonly events: readonly WebhookEventType[];
}

/** The subscription a request asks for (events default to `completed`), or undefined when it names no `webhook_url`. */
export function webhookSubscriptionOf(fields: {
  readonly webhook_url?: string;
  readonly webhook_events?: readonly WebhookEventType[];
}): WebhookSubscription | undefined {
  if (fields.webhook_url === undefined) return undefined;
  return { url: fields.webhook_url, events: [...(fields.webhook_events ?? ['completed'])] };
}

/**
 * A generation job as clients submit it: the pipeline's request plus the
 * model to run it on. Shared by the API (validation at the edge) and the
 * worker (which trusts nothing it reads back from the queue).
 */
export const jobRequestSchema = generateRequestSchema.extend({
  model: modelIdSchema.optional(),
  ...webhookRequestFields,
});
export type JobRequest = z.input<typeof jobRequestSchema>;
