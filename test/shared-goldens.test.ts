import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasShared } from './helpers/shared';

describe('the ../shared helper', () => {
  const saved = process.env.GIRAFFE_REQUIRE_SHARED;
  afterEach(() => {
    if (saved === undefined) delete process.env.GIRAFFE_REQUIRE_SHARED;
    else process.env.GIRAFFE_REQUIRE_SHARED = saved;
    jest.restoreAllMocks();
  });

  it('skips (false, with a message) when a shared file is absent and nothing requires it', () => {
    delete process.env.GIRAFFE_REQUIRE_SHARED;
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(hasShared('no-such-folder', 'absent.json')).toBe(false);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('absent.json'));
  });

  it('fails instead of skipping when GIRAFFE_REQUIRE_SHARED=1 (as CI sets it)', () => {
    process.env.GIRAFFE_REQUIRE_SHARED = '1';
    expect(() => hasShared('no-such-folder', 'absent.json')).toThrow(
      /absent\.json is absent and GIRAFFE_REQUIRE_SHARED=1/,
    );
  });

  it('is required by CI (.ci/run exports GIRAFFE_REQUIRE_SHARED=1)', () => {
    const ci = fs.readFileSync(path.join(__dirname, '..', '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^export GIRAFFE_REQUIRE_SHARED=1$/m);
  });
});
