import * as fs from 'node:fs';
import * as path from 'node:path';
import swagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { OpenAPIV3_1 } from 'openapi-types';

/** Where the docs live: the UI, and the document as JSON. */
export const docsPrefix = '/docs';
export const openApiJsonPath = '/openapi.json';

// src/api and dist/api both sit two levels below the package root.
const packageVersion = (): string =>
  (
    JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

const description = `Self-hosted Stable Diffusion text-to-image service. \`POST /v1/generate\` queues a job;
follow it with \`GET /v1/jobs/{id}\` and fetch its images from \`GET /v1/jobs/{id}/images/{n}\`.

## Authentication

When the server is started with \`API_KEYS\`, every route except the health checks and these docs needs an
API key, sent as \`Authorization: Bearer <key>\` (or \`X-API-Key: <key>\`). A missing or unknown key is a
\`401\` with \`WWW-Authenticate: Bearer\`. A job belongs to the key that created it: other keys get \`404\`
for it, as if it did not exist. Without \`API_KEYS\` the API is open and keys are ignored.

## Errors

Every error the API returns on purpose is an RFC 9457 problem, \`Content-Type: application/problem+json\`:
\`type\` (\`urn:giraffe:error:<code>\`), \`title\`, \`status\`, \`detail\`, a stable \`code\`
(\`GIRAFFE_ERR_<AREA>_<PROBLEM>\`) and, for invalid requests, \`errors\` with the path of each bad field.
Bad input is always a \`4xx\`, never a \`500\`. docs/errors.md in the repository lists every code, its status,
whether retrying can help, and what to do about it.

Responses may gain fields over time: clients should ignore fields they do not know.`;

const tags: OpenAPIV3_1.TagObject[] = [
  { name: 'jobs', description: 'Create, follow and cancel generation jobs.' },
  { name: 'images', description: 'The images of finished jobs.' },
  { name: 'models', description: 'The models this deployment serves.' },
  { name: 'health', description: 'Liveness and readiness, for load balancers; no API key needed.' },
  {
    name: 'a1111',
    description:
      "AUTOMATIC1111's web API (`/sdapi/v1/*`) over giraffe's jobs, for the clients that speak it (docs/a1111-api.md).",
  },
];

/** Routes marked `config: { public: true }` need no key: they say so in the document. */
const transform: SwaggerTransform = (input) => {
  const result = jsonSchemaTransform(input);
  if (input.route.config?.public && !result.schema?.hide) {
    return { ...result, schema: { ...result.schema, security: [] } };
  }
  return result;
};

const transformObject: SwaggerTransformObject = (input) =>
  canonicalDocument(jsonSchemaTransformObject(input) as OpenAPIV3_1.Document);

const topLevelOrder = [
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'tags',
  'security',
  'paths',
  'webhooks',
  'components',
  'externalDocs',
];
const methodOrder = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function ordered<T>(object: Record<string, T>, compare: (a: string, b: string) => number): Record<string, T> {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => compare(a, b)));
}

const alphabetical = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const byList =
  (list: readonly string[]) =>
  (a: string, b: string): number => {
    const rank = (k: string): number => (list.includes(k) ? list.indexOf(k) : list.length);
    return rank(a) - rank(b) || (rank(a) === list.length ? alphabetical(a, b) : 0);
  };

/** Every `#/components/schemas/<name>` reference under a value. */
function schemaRefs(value: unknown, into: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) schemaRefs(v, into);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/'))
        into.add(v.slice('#/components/schemas/'.length));
      else schemaRefs(v, into);
    }
  }
  return into;
}

/**
 * The document in a stable shape, whatever order plugins register routes
 * and schemas in: paths, methods, responses and components sorted; component
 * schemas nothing references dropped (the zod registry holds every named
 * schema twice, as input and output, and only some are used).
 */
export function canonicalDocument(document: OpenAPIV3_1.Document): OpenAPIV3_1.Document {
  const doc = JSON.parse(JSON.stringify(document)) as OpenAPIV3_1.Document;
  const paths: Record<string, OpenAPIV3_1.PathItemObject> = {};
  for (const [url, item] of Object.entries(ordered(doc.paths ?? {}, alphabetical))) {
    const operations = ordered(item as Record<string, OpenAPIV3_1.OperationObject>, byList(methodOrder));
    for (const op of Object.values(operations)) {
      if (op.responses) op.responses = ordered(op.responses, alphabetical);
    }
    paths[url] = operations;
  }
  doc.paths = paths;

  const schemas = doc.components?.schemas ?? {};
  const { schemas: _all, ...restOfComponents } = doc.components ?? {};
  const used = schemaRefs({ ...doc, components: restOfComponents }, new Set());
  for (let grew = true; grew;) {
    const before = used.size;
    for (const name of [...used]) schemaRefs(schemas[name], used);
    grew = used.size > before;
  }
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  doc.components = ordered(
    {
      ...restOfComponents,
      ...(Object.keys(kept).length > 0 ? { schemas: ordered(kept, alphabetical) } : {}),
    },
    alphabetical,
  );
  return ordered(doc as unknown as Record<string, unknown>, byList(topLevelOrder)) as OpenAPIV3_1.Document;
}

/**
 * The OpenAPI 3.1 document of every route registered after this plugin,
 * from the routes' zod schemas (`app.swagger()`), served as JSON at
 * `/openapi.json` and browsable with Swagger UI at `/docs`; both are public.
 * Register it before the routes it should describe.
 */
export const openApi = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'giraffe',
          version: packageVersion(),
          description,
          license: { name: 'MIT', identifier: 'MIT' },
        },
        tags,
        components: {
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              description: 'An API key from `API_KEYS`, as `Authorization: Bearer <key>`.',
            },
            apiKeyHeader: {
              type: 'apiKey',
              in: 'header',
              name: 'X-API-Key',
              description: 'The same API key, for clients that cannot set `Authorization`.',
            },
          },
        },
        security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
      },
      transform,
      transformObject,
    });

    await app.register(async (docs) => {
      // The docs need no key: mark every route of this scope public (auth.ts reads route config).
      docs.addHook('onRoute', (route) => {
        route.config = { ...route.config, public: true };
      });
      await docs.register(swaggerUi, { routePrefix: docsPrefix });
      docs.get(openApiJsonPath, { schema: { hide: true } }, async () => app.swagger());
    });
  },
  { name: 'giraffe-openapi' },
);
