/**
 * The package as another project sees it: installed under node_modules (a
 * link to this checkout, as `npm install ../giraffe` makes), loaded by name
 * with `import()` and `require()`, resolving through package.json `exports`
 * to the compiled files in dist/ (built by `npm test` before jest runs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const libraryApi = ['ClipTokenizer', 'NumpyRandomState', 'createScheduler', 'loadPipeline'];

let project: string;

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` first (`npm test` does)');
  }
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-consumer-'));
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(root, path.join(project, 'node_modules', 'giraffe'), 'dir');
});

afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

/** Runs a script in the consumer project with a plain `node` (no tsx, no jest) and parses what it prints. */
function runInConsumer(file: string, source: string): Record<string, unknown> {
  fs.writeFileSync(path.join(project, file), source);
  const out = execFileSync(process.execPath, [file], { cwd: project, encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out) as Record<string, unknown>;
}

describe('the giraffe package, loaded by name from another project', () => {
  it("resolves import('giraffe') to the compiled dist/index.js and offers the library API", () => {
    const seen = runInConsumer(
      'esm.mjs',
      `const giraffe = await import('giraffe');
       const resolved = import.meta.resolve('giraffe');
       const rng = new giraffe.NumpyRandomState(0);
       console.log(JSON.stringify({
         resolved,
         types: Object.fromEntries(${JSON.stringify(libraryApi)}.map((n) => [n, typeof giraffe[n]])),
         randn: Array.from(rng.randn(2)),
       }));`,
    );
    expect(seen.resolved).toBe(`file://${fs.realpathSync(path.join(root, 'dist', 'index.js'))}`);
    expect(seen.types).toEqual(Object.fromEntries(libraryApi.map((n) => [n, 'function'])));
    // numpy.random.RandomState(0).randn(2), as numpy prints it.
    expect(seen.randn).toEqual([1.764052345967664, 0.4001572083672233]);
  });

  it("resolves require('giraffe') to the same files and keeps dist/ and src/ out of reach", () => {
    const seen = runInConsumer(
      'cjs.cjs',
      `const giraffe = require('giraffe');
       let deep = 'resolved';
       try { require.resolve('giraffe/dist/index.js'); } catch (err) { deep = err.code; }
       console.log(JSON.stringify({
         resolved: require.resolve('giraffe'),
         tokenizer: typeof giraffe.ClipTokenizer.fromFiles,
         version: require('giraffe/package.json').version,
         deep,
       }));`,
    );
    expect(seen.resolved).toBe(fs.realpathSync(path.join(root, 'dist', 'index.js')));
    expect(seen.tokenizer).toBe('function');
    expect(seen.version).toBe(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    // Only what `exports` names is public: a deep import is refused, not silently allowed.
    expect(seen.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});

describe('the subpath exports giraffe/client and giraffe/pipeline', () => {
  /** Modules under node_modules that `specifier` loads, by package name (a fresh `node`). */
  function packagesLoadedBy(specifier: string): Record<string, unknown> {
    return runInConsumer(
      `load-${specifier.replace(/\W/g, '-')}.cjs`,
      `const m = require(${JSON.stringify(specifier)});
       const packages = new Set(Object.keys(require.cache)
         .map((k) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(k)?.[1]).filter(Boolean));
       console.log(JSON.stringify({
         resolved: require.resolve(${JSON.stringify(specifier)}),
         exports: Object.keys(m).sort(),
         packages: [...packages].sort(),
       }));`,
    );
  }

  it('giraffe/client is the HTTP client alone: neither onnxruntime nor fastify (nor sharp) is loaded', () => {
    const seen = packagesLoadedBy('giraffe/client');
    expect(seen.resolved).toBe(fs.realpathSync(path.join(root, 'dist', 'client', 'index.js')));
    expect(seen.exports).toEqual(expect.arrayContaining(['GiraffeClient', 'watchJob', 'decodePreviewFrame']));
    expect(seen.packages).not.toEqual(expect.arrayContaining(['onnxruntime-node']));
    expect(seen.packages).not.toEqual(expect.arrayContaining(['fastify']));
    expect(seen.packages).not.toEqual(expect.arrayContaining(['sharp']));
  });

  it('giraffe/pipeline is the library without the server: no fastify, no bullmq', () => {
    const seen = packagesLoadedBy('giraffe/pipeline');
    expect(seen.resolved).toBe(fs.realpathSync(path.join(root, 'dist', 'pipeline', 'index.js')));
    expect(seen.exports).toEqual(expect.arrayContaining([...libraryApi, 'generateRequestSchema']));
    expect(seen.packages).toEqual(expect.arrayContaining(['onnxruntime-node']));
    expect(seen.packages).not.toEqual(expect.arrayContaining(['fastify']));
    expect(seen.packages).not.toEqual(expect.arrayContaining(['bullmq']));
  });

  it('types the public functions: a TypeScript consumer gets the request types, and bad requests do not compile', () => {
    const write = (file: string, source: string) => fs.writeFileSync(path.join(project, file), source);
    write(
      'tsconfig.json',
      JSON.stringify({
        compilerOptions: {
          module: 'node16',
          moduleResolution: 'node16',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ['good.ts', 'bad.ts'],
      }),
    );
    write(
      'good.ts',
      `import { loadPipeline, type GenerateRequest, type GenerateResult } from 'giraffe/pipeline';
       import { GiraffeClient, type JobRequest } from 'giraffe/client';
       export async function run(dir: string): Promise<number> {
         const request: GenerateRequest = { prompt: 'a cat', steps: 4, scheduler: 'euler' };
         const pipeline = await loadPipeline(dir);
         const result: GenerateResult = await pipeline.generate(request);
         const body: JobRequest = { ...request, model: 'demo' };
         const job = await new GiraffeClient({ baseUrl: 'http://x' }).generate(body);
         return result.seed + job.seed;
       }`,
    );
    write(
      'bad.ts',
      `import { loadPipeline } from 'giraffe/pipeline';
       import { GiraffeClient } from 'giraffe/client';
       export async function run(dir: string): Promise<void> {
         const pipeline = await loadPipeline(dir);
         await pipeline.generate({ prompt: 42 });
         await pipeline.generate({ prompt: 'x', scheduler: 'heun' });
         await new GiraffeClient({ baseUrl: 'http://x' }).generate({ steps: 4 });
       }`,
    );
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: project,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const errors = r.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
    expect(errors.filter((line) => line.startsWith('good.ts'))).toEqual([]);
    // Exactly the three bad calls, on their lines (5, 6 and 7).
    expect(errors.map((line) => /^bad\.ts\((\d+),/.exec(line)?.[1])).toEqual(['5', '6', '7']);
  }, 150_000);
});
