/**
 * `npm run openapi`: writes openapi.yaml at the repository root from the
 * routes the app registers (their zod schemas), so the committed document
 * cannot drift from the code; test/api/openapi.test.ts fails when it has.
 * `--stdout` prints the document instead of writing it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { stringify } from 'yaml';
import { buildApp } from '../src/api';
import { loadConfig } from '../src/config';
import { createQueueDriver, type QueueDriver } from '../src/queue';

export const openApiFile = path.join(__dirname, '..', 'openapi.yaml');

/** The app as the document sees it: memory driver, no worker, no models; nothing here shapes the routes. */
export async function buildDocumentedApp(
  env: Record<string, string> = {},
): Promise<{ app: FastifyInstance; close: () => Promise<void> }> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    MODELS_DIR: path.join(os.tmpdir(), 'giraffe-openapi-no-models'),
    ...env,
  });
  const driver: QueueDriver = createQueueDriver({});
  const app = await buildApp({ config, driver, logger: pino({ level: 'silent' }) });
  await app.ready();
  return {
    app,
    close: async () => {
      await app.close();
      await driver.close();
    },
  };
}

/** openapi.yaml's text: the app's document as YAML, formatted as the repository's prettier formats it. */
export async function renderOpenApiYaml(): Promise<string> {
  const { app, close } = await buildDocumentedApp();
  try {
    const text = stringify(app.swagger(), { aliasDuplicateObjects: false, lineWidth: 0 });
    // prettier 3 loads its parsers with dynamic import(): fine here, in plain node.
    const prettier = await import('prettier');
    const options = await prettier.resolveConfig(openApiFile);
    return await prettier.format(text, { ...options, filepath: openApiFile });
  } finally {
    await close();
  }
}

async function main(): Promise<void> {
  const text = await renderOpenApiYaml();
  if (process.argv.includes('--stdout')) {
    process.stdout.write(text);
    return;
  }
  fs.writeFileSync(openApiFile, text);
  console.log(`wrote ${path.relative(process.cwd(), openApiFile)}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
