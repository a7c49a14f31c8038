import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { presentedKey } from './api-keys';
import { authFailuresOf, type AuthFailures } from './auth-failures';
import { problemFor, sendProblem } from './problem';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route answers without an API key (health checks, docs). */
    public?: boolean;
    /**
     * A progress stream: `?token=` (the job's stream token, for the `:id`
     * parameter) stands in for the API key, because browsers cannot set
     * headers on a WebSocket. `optional`: the multiplexed stream, which also
     * opens without either and takes a token per subscribed job.
     */
    streamAuth?: 'token' | 'optional';
  }
  interface FastifyRequest {
    /** Whether the request showed an API key or stream token that checked out (always true when the API is open). */
    authenticated: boolean;
  }
}

/**
 * Bearer API keys when `API_KEYS` is set: every non-public route needs one,
 * and the request is tagged with the key's owner id, which scopes the jobs it
 * can see. With no keys configured the API is open (a warning is logged at
 * start-up) and every job belongs to `null`.
 */
export const apiKeyAuth = fp(
  async (app) => {
    app.decorateRequest('owner', null);
    app.decorateRequest('authenticated', true);
    const { keys, streamTokens } = app.giraffe;
    const failures = authFailuresOf(app);
    if (!keys.enabled) app.log.warn('API_KEYS is not set: the API is open to anyone who can reach it');
    app.addHook('onRequest', async (request, reply) => {
      const config = request.routeOptions.config;
      const key = presentedKey(request.headers);
      if (config?.streamAuth && key === undefined) {
        const token = (request.query as { token?: unknown }).token;
        const jobId = (request.params as { id?: unknown }).id;
        if (typeof token === 'string' && typeof jobId === 'string') {
          if (await refusedForFailures(failures, request, reply)) return reply;
          try {
            request.owner = streamTokens.verify(token, jobId);
            return;
          } catch (err) {
            await failures.record(request.ip);
            const detail = err instanceof Error ? err.message : 'stream token is not valid';
            return sendProblem(reply, problemFor('GIRAFFE_ERR_AUTH_REQUIRED', detail));
          }
        }
        if (config.streamAuth === 'optional' && keys.enabled) {
          request.authenticated = false;
          return;
        }
      }
      if (!keys.enabled || config?.public) return;
      if (key !== undefined && (await refusedForFailures(failures, request, reply))) return reply;
      const owner = key === undefined ? undefined : keys.identify(key);
      // A wrong key is a guess worth counting; a missing one is not.
      if (owner === undefined && key !== undefined) await failures.record(request.ip);
      if (owner === undefined) {
        const detail =
          key === undefined
            ? config?.streamAuth
              ? `send an API key as "Authorization: Bearer <key>", or the job's stream token as ?token=`
              : 'send an API key as "Authorization: Bearer <key>"'
            : 'the API key is not valid';
        return sendProblem(reply, problemFor('GIRAFFE_ERR_AUTH_REQUIRED', detail), {
          'www-authenticate': 'Bearer realm="giraffe"',
        });
      }
      request.owner = owner;
    });
  },
  { name: 'giraffe-auth' },
);

/**
 * Answers 429 (and returns true) when the client's address made too many
 * failed authentications in this window: its credentials are not even
 * checked until the window ends, so guessing keys gets nowhere fast.
 */
async function refusedForFailures(
  failures: AuthFailures,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<boolean> {
  const waitS = await failures.blockedFor(request.ip);
  if (waitS === 0) return false;
  sendProblem(
    reply,
    problemFor(
      'GIRAFFE_ERR_RATE_LIMITED',
      `too many failed authentications from this address; retry after ${waitS} s`,
    ),
    { 'retry-after': String(waitS) },
  );
  return true;
}
