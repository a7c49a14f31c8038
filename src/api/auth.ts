import fp from 'fastify-plugin';
import { presentedKey } from './api-keys';
import { problemFor, sendProblem } from './problem';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Route answers without an API key (health checks, docs). */
    public?: boolean;
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
    const { keys } = app.giraffe;
    if (!keys.enabled) app.log.warn('API_KEYS is not set: the API is open to anyone who can reach it');
    app.addHook('onRequest', async (request, reply) => {
      if (!keys.enabled || request.routeOptions.config?.public) return;
      const key = presentedKey(request.headers);
      const owner = key === undefined ? undefined : keys.identify(key);
      if (owner === undefined) {
        const detail =
          key === undefined ? 'send an API key as "Authorization: Bearer <key>"' : 'the API key is not valid';
        return sendProblem(reply, problemFor('GIRAFFE_ERR_AUTH_REQUIRED', detail), {
          'www-authenticate': 'Bearer realm="giraffe"',
        });
      }
      request.owner = owner;
    });
  },
  { name: 'giraffe-auth' },
);
