/**
 * The package as another project sees it: installed under node_modules (a
 * link to this checkout, as `npm install ../giraffe` makes), loaded by name
 * with `import()` and `require()`, resolving through package.json `exports`
 * to the compiled files in dist/ (built by `npm test` before jest runs).
 */
import { execFileSync } from 'node:child_process';
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
