import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Fastify, { type FastifyInstance } from 'fastify';
import type { OpenAPIV3_1 } from 'openapi-types';
import { parse } from 'yaml';
import { buildDocumentedApp, openApiFile } from '../../scripts/generate-openapi';

// The OpenAPI document: committed, valid, complete, and true to the API.
const run = promisify(execFile);
const root = path.join(__dirname, '..', '..');
const KEY = 'openapi-key-0123456789';

let app: FastifyInstance;
let close: () => Promise<void>;
let doc: OpenAPIV3_1.Document;

beforeAll(async () => {
  ({ app, close } = await buildDocumentedApp({ API_KEYS: KEY }));
  doc = app.swagger() as OpenAPIV3_1.Document;
});

afterAll(async () => {
  await close?.();
});

/** `METHOD /path/{param}` for every route the router holds, from `printRoutes`' tree. */
function registeredRoutes(instance: FastifyInstance): string[] {
  const routes: string[] = [];
  const labels: string[] = [];
  for (const line of instance.printRoutes().split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]*)\))?$/u.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    labels.length = depth;
    labels.push(m[2]);
    for (const method of m[3]?.split(', ') ?? []) {
      routes.push(`${method} ${labels.join('').replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}

/** Where the documentation and the playground page are served: deliberately not part of the document. */
const documentationRoute = (route: string): boolean =>
  / (\/docs(\/.*)?|\/openapi\.json|\/|\/playground\/.*)$/.test(route);

describe('openapi.yaml', () => {
  it('is what `npm run openapi` generates now', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/generate-openapi.ts', '--stdout'],
      { cwd: root, maxBuffer: 32 * 1024 * 1024 },
    );
    const committed = fs.existsSync(openApiFile) ? fs.readFileSync(openApiFile, 'utf8') : '';
    if (committed !== stdout) {
      const a = committed.split('\n');
      const b = stdout.split('\n');
      const line = a.findIndex((text, i) => text !== b[i]);
      throw new Error(
        `openapi.yaml is out of date with the routes' schemas: run \`npm run openapi\` and commit the result.\n` +
          `First difference at line ${line + 1}:\n  committed: ${a[line] ?? '(end of file)'}\n  generated: ${b[line] ?? '(end of file)'}`,
      );
    }
    // The app the tests below read (API keys on) documents exactly the same.
    expect(parse(committed)).toEqual(doc);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    // The validator is ESM-only: it runs in plain node, outside jest's CommonJS runtime.
    const script = `
      import { Validator } from '@seriousme/openapi-schema-validator';
      const validator = new Validator();
      const result = await validator.validate(process.argv[1]);
      console.log(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, openApiFile], {
      cwd: root,
    });
    const result = JSON.parse(stdout) as { valid: boolean; version: string; errors?: unknown };
    expect(result).toEqual({ valid: true, version: '3.1' });
  });
});

describe('the document', () => {
  it('has every route the app registers, and only those', () => {
    const routes = registeredRoutes(app).filter((r) => !r.startsWith('HEAD ') && !documentationRoute(r));
    const documented = Object.entries(doc.paths ?? {}).flatMap(([url, item]) =>
      Object.keys(item ?? {}).map((method) => `${method.toUpperCase()} ${url}`),
    );
    expect(routes).toContain('POST /v1/generate');
    expect(routes).toContain('GET /v1/jobs/{id}/images/{n}');
    expect([...documented].sort()).toEqual([...routes].sort());
  });

  it('describes every operation of ours, with a unique id and its error responses', () => {
    const ours = ['jobs', 'images', 'models', 'health'];
    const operations = Object.entries(doc.paths ?? {}).flatMap(([url, item]) =>
      Object.entries(item as Record<string, OpenAPIV3_1.OperationObject>).map(([method, op]) => ({
        route: `${method.toUpperCase()} ${url}`,
        op,
      })),
    );
    const ids = operations.map(({ op }) => op.operationId).filter((id) => id !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { route, op } of operations.filter(({ op }) => op.tags?.some((t) => ours.includes(t)))) {
      expect({ route, summary: typeof op.summary, description: typeof op.description }).toEqual({
        route,
        summary: 'string',
        description: 'string',
      });
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (!status.startsWith('4') && !status.startsWith('5')) continue;
        if (route === 'GET /readyz') continue; // its 503 is the readiness report itself
        expect({ route, status, content: (response as OpenAPIV3_1.ResponseObject).content }).toEqual({
          route,
          status,
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        });
      }
    }
  });

  it('says which routes need an API key', () => {
    expect(doc.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }]);
    expect(doc.paths?.['/healthz']?.get?.security).toEqual([]);
    expect(doc.paths?.['/v1/generate']?.post?.security).toBeUndefined();
    expect(doc.info).toMatchObject({ title: 'giraffe', version: expect.any(String) });
    expect(doc.info.description).toContain('Bearer');
    expect(doc.info.description).toContain('docs/errors.md');
  });
});

describe('the docs routes', () => {
  it('serve Swagger UI at /docs and the document at /openapi.json without an API key', async () => {
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(ui.statusCode);
    const page = ui.statusCode === 302 ? await app.inject({ method: 'GET', url: ui.headers.location }) : ui;
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const json = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toEqual(doc);
    expect((await app.inject({ method: 'GET', url: '/v1/jobs' })).statusCode).toBe(401);
  });
});

describe('POST /v1/generate as documented', () => {
  // A plain JSON Schema validator (Fastify's ajv, set to neither coerce nor
  // strip) reading the documented body schema, against the API itself.
  let probe: FastifyInstance;

  beforeAll(async () => {
    const body = doc.paths?.['/v1/generate']?.post?.requestBody as OpenAPIV3_1.RequestBodyObject;
    const schema = body.content['application/json'].schema;
    expect(JSON.stringify(schema)).not.toContain('$ref');
    probe = Fastify({
      ajv: {
        customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true },
      },
    });
    probe.post('/', { schema: { body: schema } }, async () => ({ ok: true }));
    await probe.ready();
  });

  afterAll(async () => {
    await probe?.close();
  });

  const documentAccepts = async (payload: unknown): Promise<boolean> =>
    (await probe.inject({ method: 'POST', url: '/', payload: payload as object })).statusCode === 200;

  /** The API's validation accepts it (no model is served here, so a valid request ends as an unknown model). */
  const apiAccepts = async (payload: unknown): Promise<boolean> => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers: { authorization: `Bearer ${KEY}` },
      payload: payload as object,
    });
    return res.json<{ code?: string }>().code !== 'GIRAFFE_ERR_REQUEST_INVALID';
  };

  const valid = { prompt: 'a giraffe', width: 64, height: 64, steps: 4, seed: 5 };
  it.each([
    ['a valid request', valid, true],
    ['a null negative prompt', { ...valid, negative_prompt: null }, true],
    ['an unknown field', { ...valid, colour: 'red' }, false],
    ['a width that is not a multiple of 8', { ...valid, width: 100 }, false],
    ['too many steps', { ...valid, steps: 1000 }, false],
    ['a prompt that is not a string', { ...valid, prompt: 7 }, false],
    ['an unknown scheduler', { ...valid, scheduler: 'heun' }, false],
    ['a path as the model', { ...valid, model: '../etc' }, false],
    ['no prompt', { width: 64 }, false],
  ])('%s: the document and the API agree', async (_name, payload, accepted) => {
    expect({ api: await apiAccepts(payload), document: await documentAccepts(payload) }).toEqual({
      api: accepted,
      document: accepted,
    });
  });
});
