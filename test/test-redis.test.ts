import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Redis from 'ioredis';
import { REDIS_URL } from './helpers/redis';
import { testRedisUrl } from './redis-url';

const root = path.resolve(__dirname, '..');

describe("the tests' Redis", () => {
  it.each([
    [{}, 'redis://127.0.0.1:6379/15'],
    [{ REDIS_URL: 'redis://cache.internal:6380' }, 'redis://cache.internal:6380/15'],
    [{ REDIS_URL: 'redis://:secret@cache.internal:6380/3' }, 'redis://:secret@cache.internal:6380/3'],
    [{ REDIS_URL: 'rediss://cache.internal:6380?db=2' }, 'rediss://cache.internal:6380?db=2'],
    [{ REDIS_URL: 'redis://a:1', GIRAFFE_TEST_REDIS_URL: 'redis://b:2' }, 'redis://b:2'],
  ])('%j → %s', (env, url) => {
    expect(testRedisUrl(env)).toBe(url);
  });

  it("is a database of the tests' own, not db 0 where a developer keeps data", async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    try {
      const info = (await redis.call('CLIENT', 'INFO')) as string;
      const db = Number(/\bdb=(\d+)/.exec(info)![1]);
      // The database the URL names (the default rule names 15), really selected.
      const url = new URL(REDIS_URL);
      expect(db).toBe(Number(url.pathname.slice(1) || url.searchParams.get('db') || 0));
      if (REDIS_URL === testRedisUrl({})) expect(db).toBe(15);
    } finally {
      redis.disconnect();
    }
  });

  it('keeps a REDIS_URL the developer exported away from the processes the tests start', () => {
    // test/setup-env.js runs before every test file.
    const out = execFileSync(
      process.execPath,
      ['-e', "require('./test/setup-env.js'); console.log(JSON.stringify(process.env))"],
      {
        cwd: root,
        env: {
          ...process.env,
          GIRAFFE_TEST_REDIS_URL: '',
          REDIS_URL: 'redis://dev:6379',
          REDIS_PREFIX: '{mine}',
        },
      },
    ).toString();
    const env = JSON.parse(out) as Record<string, string | undefined>;
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.REDIS_PREFIX).toBeUndefined();
    expect(env.GIRAFFE_TEST_REDIS_URL).toBe('redis://dev:6379/15');
    expect(process.env.REDIS_URL).toBeUndefined();
  });

  it('is named in one place: no test or bench hard-codes the local Redis', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (/\.(ts|js)$/.test(entry.name) && p !== path.join(root, 'test', 'redis-url.js')) {
          const text = fs.readFileSync(p, 'utf8');
          // The local server's own port, outside config parsing tests that name a non-default db.
          for (const m of text.matchAll(/redis:\/\/(127\.0\.0\.1|localhost):6379(?!\/[1-9])/g)) {
            offenders.push(`${path.relative(root, p)}: ${m[0]}`);
          }
        }
      }
    };
    walk(path.join(root, 'test'));
    walk(path.join(root, 'bench'));
    expect(offenders).toEqual([]);
  });
});
