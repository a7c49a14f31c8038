import fp from 'fastify-plugin';
import { presentedKey } from './api-keys';
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
    if (!keys.enabled) app.log.warn('API_KEYS is not set: the API is open to anyone who can reach it');
    app.addHook('onRequest', async (request, reply) => {
      const config = request.routeOptions.config;
      const key = presentedKey(request.headers);
      if (config?.streamAuth && key === undefined) {
        const token = (request.query as { token?: unknown }).token;
        const jobId = (request.params as { id?: unknown }).id;
        if (typeof token === 'string' && typeof jobId === 'string') {
          try {
            request.owner = streamTokens.verify(token, jobId);
            return;
          } catch (err) {
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
      const owner = key === undefined ? undefined : keys.identify(key);
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
