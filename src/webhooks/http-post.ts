import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { GiraffeError } from '../errors';
import { classifyAddress, normalizeAddress, type WebhookAllowlist } from './address-guard';
import { parseWebhookUrl } from './webhook-url';

/** Resolves a host name to all its addresses (`dns.lookup` with `all: true`); replaceable in tests. */
export type ResolveHost = (host: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

const systemResolve: ResolveHost = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

export interface PostOptions {
  readonly allowlist: WebhookAllowlist;
  /** Per-attempt limit: connecting, sending and reading the answer. */
  readonly timeoutMs: number;
  readonly resolve?: ResolveHost;
}

/** Answers read back from a receiver are kept this short: only the status matters. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Resolves the webhook's host and picks the address to connect to. Every
 * address the name resolves to must be public (or allowlisted), not just the
 * first: a name that answers with one public and one private address would
 * otherwise reach the private one on the next resolution.
 */
export async function checkDestination(
  url: URL,
  allowlist: WebhookAllowlist,
  resolve: ResolveHost = systemResolve,
): Promise<{ address: string; family: 4 | 6 }> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = normalizeAddress(host);
  const addresses = literal
    ? [{ address: host, family: literal.family === 'ipv4' ? 4 : 6 }]
    : await resolve(host).catch((err: unknown) => {
        throw new GiraffeError(
          'GIRAFFE_ERR_WEBHOOK_DELIVERY_FAILED',
          `webhook host ${host} did not resolve: ${(err as Error).message}`,
          { host },
        );
      });
  if (addresses.length === 0) {
    throw new GiraffeError('GIRAFFE_ERR_WEBHOOK_DELIVERY_FAILED', `webhook host ${host} has no address`, {
      host,
    });
  }
  const hostAllowed = !literal && allowlist.allowsHost(host);
  for (const { address } of addresses) {
    const cls = classifyAddress(address);
    if (cls !== 'public' && !hostAllowed && !allowlist.allowsAddress(address)) {
      throw new GiraffeError(
        'GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED',
        `webhook host ${host} resolves to ${address} (${cls}); add it to WEBHOOK_ALLOWLIST to allow it`,
        { host, address, class: cls },
      );
    }
  }
  const chosen = addresses[0];
  return { address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}

/**
 * POSTs one JSON body to a webhook URL after checking where it goes, on a
 * connection to exactly the address that was checked (the request's `lookup`
 * answers with it, so there is no second resolution to race: DNS rebinding),
 * with TLS still verifying the certificate against the host name. Redirects
 * are not followed: a 3xx is a failed attempt. Resolves with the status of a
 * 2xx answer; throws GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED (never retried) or
 * GIRAFFE_ERR_WEBHOOK_DELIVERY_FAILED.
 */
export async function postWebhook(
  urlText: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  options: PostOptions,
): Promise<number> {
  const url = parseWebhookUrl(urlText);
  const target = await checkDestination(url, options.allowlist, options.resolve);
  const pinned: LookupFunction = (_host, opts, callback) => {
    if ((opts as dns.LookupOptions).all) {
      (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, [target]);
    } else {
      callback(null, target.address, target.family);
    }
  };
  const client = url.protocol === 'https:' ? https : http;
  const status = await new Promise<number>((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        lookup: pinned,
        // A fresh connection each time: a pooled socket could be one opened to another address.
        agent: false,
        signal: AbortSignal.timeout(options.timeoutMs),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'giraffe-webhooks/1',
        },
      },
      (response) => {
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) response.destroy();
        });
        response.on('close', () => resolve(response.statusCode ?? 0));
        response.on('error', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  }).catch((err: unknown) => {
    throw new GiraffeError(
      'GIRAFFE_ERR_WEBHOOK_DELIVERY_FAILED',
      `webhook to ${url.host} failed: ${(err as Error).message}`,
      { host: url.host },
    );
  });
  if (status < 200 || status > 299) {
    throw new GiraffeError(
      'GIRAFFE_ERR_WEBHOOK_DELIVERY_FAILED',
      `webhook to ${url.host} answered ${status}`,
      {
        host: url.host,
        status,
      },
    );
  }
  return status;
}
