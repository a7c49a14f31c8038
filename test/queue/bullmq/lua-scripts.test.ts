import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { transitionScripts } from '../../../src/queue/bullmq/job-scripts';
import { luaDir } from '../../../src/queue/bullmq/lua-script';
import { liveWorkers, noteUnserved } from '../../../src/queue/bullmq/redis-worker-registry';
import { REDIS_URL } from '../../helpers/redis';

// The queue's Lua lives in .lua files (as bullmq keeps its own), read when the driver loads; the
// build copies them into dist/ and the published package carries them.
const root = path.resolve(__dirname, '..', '..', '..');
const luaFiles = fs.readdirSync(luaDir).filter((f) => f.endsWith('.lua'));

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

it('no TypeScript file carries Lua source in a string', () => {
  const withLua = tsFiles(path.join(root, 'src')).filter((f) =>
    /redis\.call\(|redis\.pcall\(/.test(fs.readFileSync(f, 'utf8')),
  );
  expect(withLua.map((f) => path.relative(root, f))).toEqual([]);
});

it('every .lua file is part of a script the driver runs', () => {
  expect(luaFiles.length).toBeGreaterThan(5);
  const sources = [
    ...Object.values(transitionScripts).map((s) => s.source),
    liveWorkers.source,
    noteUnserved.source,
  ];
  const unused = luaFiles.filter((f) => {
    const text = fs.readFileSync(path.join(luaDir, f), 'utf8').trim();
    return !sources.some((s) => s.includes(text));
  });
  expect(unused).toEqual([]);
});

it('Redis compiles the scripts as loaded from the files', async () => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  try {
    for (const script of [...Object.values(transitionScripts), liveWorkers, noteUnserved]) {
      const sha = (await redis.script('LOAD', script.source)) as string;
      expect(sha).toMatch(/^[0-9a-f]{40}$/);
    }
  } finally {
    redis.disconnect();
  }
});

it('the build copies them to dist/, and the package and the image take them along', () => {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` first (`npm test` does)');
  }
  const built = path.join(root, 'dist', 'queue', 'bullmq', 'lua');
  for (const f of luaFiles) {
    expect(fs.readFileSync(path.join(built, f), 'utf8')).toBe(fs.readFileSync(path.join(luaDir, f), 'utf8'));
  }
  // npm pack lists what `npm install giraffe` would get (scripts off: dist/ is built already).
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, npm_config_loglevel: 'error' },
    }),
  ) as { files: { path: string }[] }[];
  const files = new Set(packed[0].files.map((f) => f.path));
  for (const f of luaFiles) expect(files).toContain(`dist/queue/bullmq/lua/${f}`);
  // The image builds with `npm run build` from src/ and copies dist/ whole.
  const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/^COPY src \.\/src$/m);
  expect(dockerfile).toMatch(/^RUN npm run build$/m);
  expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
}, 60_000);
