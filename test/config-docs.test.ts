import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { configSchema, loadConfig } from '../src/config';
import { configurationDoc, envExampleFile, readSettings } from '../scripts/generate-config-docs';

// .env.example and docs/configuration.md describe the settings src/config.ts
// really reads, with the defaults it really applies.
const run = promisify(execFile);
const root = path.join(__dirname, '..');
const settingNames = Object.keys(configSchema.shape);

/** `KEY=value` lines of a dotenv file, with the comment lines just above each. */
function parseDotenv(text: string): { name: string; value: string; comment: string[] }[] {
  const entries: { name: string; value: string; comment: string[] }[] = [];
  let comment: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) comment.push(line.replace(/^#\s?/, ''));
    else if (line.trim() === '') comment = [];
    else {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (!m) throw new Error(`not a KEY=value line: ${line}`);
      entries.push({ name: m[1], value: m[2], comment });
      comment = [];
    }
  }
  return entries;
}

describe('.env.example', () => {
  const entries = parseDotenv(fs.readFileSync(envExampleFile, 'utf8'));

  it('lists every setting of the config schema once, and nothing else', () => {
    expect(entries.map((e) => e.name).sort()).toEqual([...settingNames].sort());
  });

  it('gives each setting its default: loading the file changes nothing', () => {
    const env = Object.fromEntries(entries.map((e) => [e.name, e.value]));
    expect(loadConfig(env)).toEqual(loadConfig({}));
    // Settings without a default are left empty (unset), never given a made-up value.
    const defaults = loadConfig({}) as Record<string, unknown>;
    const withoutDefault = settingNames.filter((n) => defaults[n] === undefined);
    for (const name of withoutDefault) expect(env[name]).toBe('');
  });

  it('explains each setting in a comment above it', () => {
    for (const e of entries) {
      expect(e.comment.join(' ').length).toBeGreaterThan(10);
    }
  });
});

describe('docs/configuration.md', () => {
  const doc = fs.readFileSync(configurationDoc, 'utf8');
  const rows = new Map(
    [...doc.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*([^|]*?)\s*\|/gm)].map((m) => [m[1], m[2]]),
  );

  it('has a row per setting, with the default the schema applies', () => {
    expect([...rows.keys()].sort()).toEqual([...settingNames].sort());
    const defaults = loadConfig({}) as Record<string, unknown>;
    for (const name of settingNames) {
      const value = defaults[name];
      if (typeof value === 'string' || typeof value === 'number') {
        expect(rows.get(name)).toContain(`\`${value}\``);
      }
    }
  });

  it('is linked from the README', () => {
    expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).toContain('docs/configuration.md');
  });
});

describe('npm run docs:config', () => {
  it('finds the committed files up to date', async () => {
    // A child process: prettier 3 loads its parsers with import(), which jest's runtime does not offer.
    const result = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/generate-config-docs.ts', '--check'],
      {
        cwd: root,
      },
    ).then(
      () => '',
      (err: { stderr: string }) => err.stderr,
    );
    expect(result).toBe('');
  });

  it('refuses a comment whose @defaultValue disagrees with the schema, or a setting without one', () => {
    const source = fs.readFileSync(path.join(root, 'src', 'config.ts'), 'utf8');
    expect(readSettings(source).map((s) => s.name)).toEqual(settingNames);
    const wrongDefault = source.replace('@defaultValue `8080`', '@defaultValue `9090`');
    expect(wrongDefault).not.toBe(source);
    expect(() => readSettings(wrongDefault)).toThrow(/PORT's @defaultValue says 9090/);
    const undocumented = source.replace('/** TCP port of the HTTP API. @defaultValue `8080` */', '');
    expect(undocumented).not.toBe(source);
    expect(() => readSettings(undocumented)).toThrow(/PORT has no TSDoc comment/);
  });
});
