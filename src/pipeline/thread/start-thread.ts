import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Starts the worker thread whose entry point is `<dir>/<name>`: the compiled
 * `.js` when giraffe runs from dist/, the `.ts` source through tsx's require
 * hook when it runs from its sources (tests, tsx).
 */
export function startThread(dir: string, name: string, workerData: unknown): Worker {
  if (__filename.endsWith('.js')) return new Worker(path.join(dir, `${name}.js`), { workerData });
  const source = path.join(dir, `${name}.ts`);
  return new Worker(`require('tsx/cjs'); require(${JSON.stringify(source)});`, { eval: true, workerData });
}
