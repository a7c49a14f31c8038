import fp from 'fastify-plugin';

/** Where AUTOMATIC1111's API lives; every route of the adapter is under it. */
export const A1111_PREFIX = '/sdapi/v1';

/**
 * The API key an `Authorization: Basic` header carries: A1111 clients send
 * `--api-auth user:password` as HTTP Basic, and the password is where giraffe
 * users put their key (any user name). A header without a colon is taken as
 * the key itself. Empty credentials (open-webui and SillyTavern send `Basic`
 * of an empty string when no auth is configured) carry no key.
 */
export function keyFromBasicAuth(header: string): string | undefined {
  const m = /^Basic\s*(\S*)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon === -1 ? decoded : decoded.slice(colon + 1);
  return key.length > 0 ? key : undefined;
}

/**
 * Lets the one API-key check (src/api/auth.ts) serve A1111 clients: on
 * `/sdapi/v1/*` only, a Basic header is rewritten to the Bearer header that
 * check reads, and an empty one (no credentials) is dropped. Registered
 * before the auth plugin so its hook runs first; the key is still checked,
 * scoped and rate limited exactly as a Bearer key is.
 */
export const a1111BasicAuth = fp(
  async (app) => {
    app.addHook('onRequest', async (request) => {
      if (!request.url.startsWith(`${A1111_PREFIX}/`)) return;
      const auth = request.headers.authorization;
      if (typeof auth !== 'string') return;
      if (auth.trim() === '') {
        delete request.headers.authorization;
        return;
      }
      if (!/^Basic\b/i.test(auth)) return;
      const key = keyFromBasicAuth(auth);
      if (key === undefined) delete request.headers.authorization;
      else request.headers.authorization = `Bearer ${key}`;
    });
  },
  { name: 'giraffe-a1111-basic-auth' },
);
