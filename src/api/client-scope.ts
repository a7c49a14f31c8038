import type { FastifyRequest } from 'fastify';

/**
 * Whom per-client state counts for: the API key that made the request, or,
 * when the API is open (no API_KEYS), the client's address. Rate limits,
 * Idempotency-Keys and the per-client job limit are all scoped by it, so
 * that on an open API one client can neither replay nor block another's keys
 * (issue 17, item 16) nor spend another's limits. Behind a proxy every client
 * has the proxy's address unless Fastify is told to trust it; see
 * docs/security.md.
 */
export function clientScope(request: Pick<FastifyRequest, 'owner' | 'ip'>): string {
  return request.owner ? `key:${request.owner}` : `ip:${request.ip}`;
}
