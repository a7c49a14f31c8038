import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

// npm's own version-range library (a dependency of npm and of many packages here; no types installed).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const semver = require('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

// A fresh `npm install` and test run should print nothing a user has to wonder about.
const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string }; dev?: boolean; hasInstallScript?: boolean }>;
};
const locked = Object.entries(lock.packages).filter(([where]) => where !== '');
const nameOf = (where: string) => where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length);

it('npm reads the project config without warnings (no unknown .npmrc keys)', () => {
  const r = spawnSync('npm', ['config', 'get', 'allow-scripts'], { cwd: root, encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stderr).not.toMatch(/npm warn/i);
});

it('every locked package runs on the Node versions package.json promises (no EBADENGINE)', () => {
  const minimum = semver.minVersion(pkg.engines.node)!.version;
  const refusing = locked
    .filter(([, p]) => p.engines?.node !== undefined)
    .filter(
      ([, p]) =>
        !semver.satisfies(process.version, p.engines!.node!) ||
        (!p.dev && !semver.satisfies(minimum, p.engines!.node!)),
    )
    .map(([where, p]) => `${where} wants node ${p.engines!.node}`);
  expect(refusing).toEqual([]);
});

it('every dependency install script is settled in allowScripts (npm lists none as skipped)', () => {
  const withScripts = locked.filter(([, p]) => p.hasInstallScript).map(([where]) => nameOf(where));
  expect(withScripts.length).toBeGreaterThan(0);
  const unsettled = withScripts.filter((name) => typeof pkg.allowScripts?.[name] !== 'boolean');
  expect(unsettled).toEqual([]);
  // onnxruntime-node's would download CUDA libraries into every install: the CPU build is bundled.
  expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
});
