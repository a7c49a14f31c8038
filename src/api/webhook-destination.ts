import type { Config } from '../config';
import { GiraffeError } from '../errors';
import type { WebhookEventType, WebhookSubscription } from '../jobs/job-request';
import { webhookSubscriptionOf } from '../jobs/job-request';
import { checkDestination, WebhookAllowlist, type ResolveHost } from '../webhooks';
import * as dns from 'node:dns';

/** How long a submit waits for the webhook host's DNS answer before leaving the check to delivery. */
const SUBMIT_RESOLVE_TIMEOUT_MS = 2000;

const allowlists = new WeakMap<Config, WebhookAllowlist>();
function allowlistOf(config: Config): WebhookAllowlist {
  let list = allowlists.get(config);
  if (!list) allowlists.set(config, (list = new WebhookAllowlist(config.WEBHOOK_ALLOWLIST)));
  return list;
}

/**
 * The webhook a job request asks for. `webhook_events` without a
 * `webhook_url` is a mistake the client should hear about (nothing would
 * ever be sent), not a field to ignore.
 */
export function webhookOfRequest(fields: {
  readonly webhook_url?: string;
  readonly webhook_events?: readonly WebhookEventType[];
  readonly webhook_include_prompt?: boolean;
}): WebhookSubscription | undefined {
  for (const field of ['webhook_events', 'webhook_include_prompt'] as const) {
    if (fields.webhook_url === undefined && fields[field] !== undefined) {
      throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `${field}: needs a webhook_url`, { field });
    }
  }
  return webhookSubscriptionOf(fields);
}

/** `localhost` and its subdomains are loopback by definition (RFC 6761 §6.3), whatever DNS says. */
function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Refuses at submit (400 GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED, naming
 * `webhook_url`) a webhook that could never be delivered because it points at
 * a loopback, private, link-local or otherwise non-public address that
 * WEBHOOK_ALLOWLIST does not allow — instead of accepting the job and failing
 * its deliveries later. IP literals and `localhost` names are decided here;
 * other names are resolved, and when DNS does not answer in time (or at all)
 * the job is accepted: delivery checks every address again before it
 * connects, so this is an early answer, not the guard itself.
 */
export async function refuseUnreachableWebhook(
  url: string,
  config: Config,
  resolve: ResolveHost = (host) => dns.promises.lookup(host, { all: true, verbatim: true }),
): Promise<void> {
  const allowlist = allowlistOf(config);
  const parsed = new URL(url);
  const bounded: ResolveHost = async (host) => {
    if (isLocalhostName(host)) return [{ address: '127.0.0.1', family: 4 }];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('DNS timeout')), SUBMIT_RESOLVE_TIMEOUT_MS);
    });
    try {
      return await Promise.race([resolve(host), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    await checkDestination(parsed, allowlist, bounded);
  } catch (err) {
    if (err instanceof GiraffeError && err.code === 'GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED') {
      throw new GiraffeError('GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED', `webhook_url: ${err.message}`, {
        ...err.details,
        field: 'webhook_url',
      });
    }
    // The name did not resolve (yet): delivery resolves and checks it again.
  }
}
