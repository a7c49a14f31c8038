import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, type ScalarTag, type CollectionTag } from 'yaml';

/** Helpers to read the deployment files as Docker Compose would, without a Docker engine. */
export const root = path.join(__dirname, '..', '..');

/** Compose's merge tags (v2.24.4+): kept as markers so tests can see what an override resets or replaces. */
export const RESET = Symbol('!reset');
export interface Override {
  readonly override: unknown;
}
const composeTags: (ScalarTag | CollectionTag)[] = [
  { tag: '!reset', collection: 'seq', resolve: () => RESET },
  { tag: '!reset', collection: 'map', resolve: () => RESET },
  { tag: '!reset', resolve: () => RESET },
  { tag: '!override', collection: 'seq', resolve: (value) => ({ override: value.toJSON() }) },
  { tag: '!override', collection: 'map', resolve: (value) => ({ override: value.toJSON() }) },
];

export interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  env_file?: string | string[];
  ports?: string[] | typeof RESET;
  volumes?: string[];
  depends_on?: Record<string, unknown> | string[];
  stop_grace_period?: string;
  container_name?: string;
  extends?: { file: string; service: string };
  healthcheck?: { test: string[] };
  deploy?: {
    resources?: {
      reservations?: {
        devices?:
          | { driver: string; count?: number | string; device_ids?: string[]; capabilities: string[] }[]
          | typeof RESET
          | Override;
      };
    };
  };
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export function readCompose(file: string): ComposeFile {
  return parse(fs.readFileSync(path.join(root, file), 'utf8'), {
    merge: true,
    customTags: composeTags,
  }) as ComposeFile;
}

/** A dotenv file's values (`KEY=value` lines). */
export function readDotenv(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(root, file), 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/**
 * Compose's variable interpolation: `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}` (throws when unset or empty) and `$$`.
 */
export function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
      if (whole === '$$') return '$';
      if (bare) return vars[bare] ?? '';
      const value = vars[name!];
      const missing = value === undefined || (colon === ':' && value === '');
      if (op === '-') return missing ? arg! : value!;
      if (op === '?' && missing) throw new Error(`${name}: ${arg}`);
      return value ?? '';
    },
  );
}

/** The environment a service's container gets: its env_file, then `environment:` over it, interpolated. */
export function containerEnv(
  service: ComposeService,
  vars: Record<string, string | undefined>,
  envFiles: Record<string, Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  const files = service.env_file === undefined ? [] : [service.env_file].flat();
  for (const f of files) Object.assign(env, envFiles[f]);
  for (const [k, v] of Object.entries(service.environment ?? {})) env[k] = interpolate(String(v), vars);
  return env;
}
