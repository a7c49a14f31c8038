import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';

/**
 * Where the page's files are: `src/api/playground` beside this file under
 * ts-jest and tsx, `dist/api/playground` once built (`npm run build` copies
 * them, because tsc copies no files but its own output).
 */
export const playgroundDir = path.join(__dirname, '..', 'playground');

/** The page's files, by the URL each is served at. */
const assets = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/playground/playground.js': { file: 'playground.js', type: 'text/javascript; charset=utf-8' },
  '/playground/edit-panel.js': { file: 'edit-panel.js', type: 'text/javascript; charset=utf-8' },
  '/playground/playground.css': { file: 'playground.css', type: 'text/css; charset=utf-8' },
} as const;

/**
 * The page may load only its own script and style sheet, talk only to this
 * origin (HTTP, and WebSockets: `ws:`/`wss:` because `'self'` does not cover
 * them in every browser), and show images it drew (`blob:`, `data:`); nothing
 * inline runs, and no other site may frame it.
 */
export const playgroundCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * `GET /`: the playground, a plain HTML/JS page that drives the public API
 * (submit, watch the WebSocket stream, cancel, fetch images). It needs no API
 * key to load; it asks for one when the API answers 401. Not part of the
 * OpenAPI document: it is a client of the API, not an operation of it.
 */
export const playgroundRoutes: FastifyPluginAsync = async (app) => {
  // Read once at start-up: a build that forgot to copy them fails here, not on the first visitor.
  for (const [url, { file, type }] of Object.entries(assets)) {
    const body = fs.readFileSync(path.join(playgroundDir, file));
    app.get(url, { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(type)
        .header('content-security-policy', playgroundCsp)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        // Small files that change with each release: revalidate rather than serve a stale script.
        .header('cache-control', 'no-cache')
        .send(body),
    );
  }
};
