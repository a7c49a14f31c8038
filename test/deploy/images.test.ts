import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { parse } from 'yaml';
import { configSchema, loadConfig } from '../../src/config';
import { createQueueDriver } from '../../src/queue';
import { root } from '../helpers/compose-files';
import { startDemoService } from '../helpers/demo-service';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';

// The Dockerfile, .dockerignore, the gateway example and the image's health
// check, checked against the code (no Docker engine runs here).
const run = promisify(execFile);
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');
const defaults = loadConfig({});

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Dockerfile stages by name, each a list of instructions (continuations joined, comments dropped). */
function dockerStages(text: string): { args: Record<string, string>; stages: Map<string, Instruction[]> } {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages = new Map<string, Instruction[]>();
  let current: Instruction[] | undefined;
  for (const line of lines) {
    const [, op, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { op: op.toUpperCase(), args: rest };
    if (instruction.op === 'FROM') {
      current = [instruction];
      stages.set(/\bAS\s+(\S+)$/i.exec(rest)![1], current);
    } else if (current) current.push(instruction);
    else if (instruction.op === 'ARG') {
      const [name, value] = rest.split('=');
      args[name] = value;
    }
  }
  return { args, stages };
}

const { args: buildArgs, stages } = dockerStages(read('Dockerfile'));
const finalStages = ['cpu', 'cuda', 'webgpu'] as const;
const all = (stage: string, op: string): string[] =>
  (stages.get(stage) ?? []).filter((i) => i.op === op).map((i) => i.args);

describe('Dockerfile', () => {
  it('builds a small CPU image and a CUDA/cuDNN image, the CPU one by default', () => {
    expect([...stages.keys()].at(-1)).toBe('cpu');
    expect(all('cpu', 'FROM')[0]).toMatch(/^\$\{NODE_IMAGE\}/);
    expect(buildArgs.NODE_IMAGE).toMatch(/^node:(\d+)-bookworm-slim$/);
    const nodeMajor = /^node:(\d+)/.exec(buildArgs.NODE_IMAGE)![1];
    const engines = JSON.parse(read('package.json')).engines.node as string;
    expect(engines).toMatch(new RegExp(`^>=${nodeMajor}\\.`));
    expect(all('cuda', 'FROM')[0]).toMatch(/^\$\{CUDA_IMAGE\}/);
    expect(buildArgs.CUDA_IMAGE).toMatch(/^nvidia\/cuda:12\.[\d.]+-cudnn-runtime-ubuntu/);
  });

  it('installs onnxruntime-node with its CUDA provider for the CUDA image only', () => {
    const cudaDeps = stages.get('deps-cuda')!;
    expect(cudaDeps.map((i) => `${i.op} ${i.args}`).join('\n')).toContain(
      'ENV ONNXRUNTIME_NODE_INSTALL=cuda12',
    );
    expect(all('cuda', 'COPY').join('\n')).toContain('--from=deps-cuda /app/node_modules');
    expect(all('cpu', 'COPY').join('\n')).toContain('--from=deps-cpu /app/node_modules');
    // No instruction fetches or bakes in model weights.
    const instructions = [...stages.values()].flat().map((i) => `${i.op} ${i.args}`);
    expect(instructions.join('\n')).not.toMatch(/huggingface|models pull|\.onnx\b/);
  });

  it('builds a WebGPU image: the CPU build plus the Vulkan loader, with graphics for NVIDIA and no software GPU', () => {
    expect(all('webgpu', 'FROM')[0]).toMatch(/^\$\{NODE_IMAGE\}/);
    // onnxruntime-node's bundled build carries the WebGPU provider: no CUDA download.
    expect(all('webgpu', 'COPY').join('\n')).toContain('--from=deps-cpu /app/node_modules');
    const run = all('webgpu', 'RUN').join(' ');
    expect(run).toMatch(/install .*\blibvulkan1\b/);
    expect(run).toMatch(/install .*\bmesa-vulkan-drivers\b/);
    // Mesa's lavapipe would be a silent software fallback: it goes.
    expect(run).toContain('rm -f /usr/share/vulkan/icd.d/lvp_icd');
    const env = Object.fromEntries(
      all('webgpu', 'ENV')
        .flatMap((line) => line.split(/\s+/))
        .map((pair) => pair.split('=')),
    );
    expect(env.NVIDIA_DRIVER_CAPABILITIES.split(',')).toEqual(
      expect.arrayContaining(['compute', 'graphics']),
    );
    expect(loadConfig(env).DEVICE).toBe('webgpu');
  });

  it.each(finalStages)(
    '%s: non-root, tini as PID 1, one image for serve and worker, health-checked',
    (stage) => {
      const user = all(stage, 'USER');
      expect(user).toHaveLength(1);
      expect(user[0]).not.toMatch(/^(root|0)(:|$)/);
      expect(JSON.parse(all(stage, 'ENTRYPOINT')[0])).toEqual([
        '/usr/bin/tini',
        '--',
        '/app/docker/entrypoint.sh',
      ]);
      expect(JSON.parse(all(stage, 'CMD')[0])).toEqual(['serve']);
      expect(all(stage, 'HEALTHCHECK')[0]).toContain('CMD ["node", "/app/docker/healthcheck.js"]');
      expect(all(stage, 'EXPOSE')).toEqual([String(defaults.PORT)]);
      expect(all(stage, 'RUN').join(' ')).toMatch(/install .*\btini\b/);
      const entrypoint = fs.statSync(path.join(root, 'docker', 'entrypoint.sh'));
      expect(entrypoint.mode & 0o111).not.toBe(0);
    },
  );

  it.each(finalStages)('%s: sets only settings config.ts knows, with volumes where they point', (stage) => {
    const env = Object.fromEntries(
      all(stage, 'ENV')
        .flatMap((line) => line.split(/\s+/))
        .map((pair) => pair.split('=')),
    );
    for (const key of Object.keys(env)) {
      // The others are read by Node and the GPU driver stack, not by giraffe.
      if (!['NODE_ENV', 'NVIDIA_DRIVER_CAPABILITIES', 'XDG_RUNTIME_DIR'].includes(key)) {
        expect(Object.keys(configSchema.shape)).toContain(key);
      }
    }
    const volumes = JSON.parse(all(stage, 'VOLUME')[0]) as string[];
    expect(volumes.sort()).toEqual([env.DATA_DIR, env.MODELS_DIR].sort());
    const config = loadConfig(env);
    // The non-root user owns them, so the demo model and pulled models can be written.
    expect(all(stage, 'RUN').join(' ')).toContain(
      `chown giraffe:giraffe ${config.MODELS_DIR} ${config.DATA_DIR}`,
    );
  });
});

/** `.dockerignore` semantics for the patterns it uses: later lines win, `!` re-includes, `**` spans folders. */
function dockerIgnored(patterns: string[], file: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = negate ? raw.slice(1) : raw;
    const regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*/g, '@@GLOBSTAR@@')
        .replace(/\*/g, '[^/]*')
        .replace(/@@GLOBSTAR@@/g, '.*')}$`,
    );
    if (regex.test(file)) ignored = !negate;
  }
  return ignored;
}

describe('.dockerignore', () => {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('sends every file the Dockerfile copies from the context', () => {
    const sources = [...stages.values()]
      .flat()
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      const full = path.join(root, source);
      const files = fs.statSync(full).isDirectory()
        ? fs
            .readdirSync(full, { recursive: true, withFileTypes: true })
            .filter((e) => e.isFile())
            .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
        : [source];
      for (const file of files) expect([file, dockerIgnored(patterns, file)]).toEqual([file, false]);
    }
  });

  it('keeps secrets, models, data and build output out of the build context', () => {
    for (const file of [
      '.env',
      'models/sd/unet/model.onnx',
      'data/results/x.png',
      'node_modules/x/index.js',
      'dist/index.js',
      '.git/HEAD',
    ]) {
      expect([file, dockerIgnored(patterns, file)]).toEqual([file, true]);
    }
  });
});

describe('docker/nginx.conf', () => {
  const conf = read('docker/nginx.conf').replace(/#.*$/gm, '');
  const locations = [...conf.matchAll(/location\s+(=|~)?\s*(\S+)\s*\{([^}]*)\}/g)].map((m) => ({
    exact: m[1] === '=',
    regex: m[1] === '~',
    pattern: m[2],
    body: m[3],
  }));
  /** The location nginx picks for a path: exact, then the first matching regex, then the longest prefix. */
  const locate = (uri: string) =>
    locations.find((l) => l.exact && l.pattern === uri) ??
    locations.find((l) => l.regex && new RegExp(l.pattern).test(uri)) ??
    locations
      .filter((l) => !l.exact && !l.regex && uri.startsWith(l.pattern))
      .sort((a, b) => b.pattern.length - a.pattern.length)[0];
  const directive = (body: string, name: string): string | undefined =>
    new RegExp(`^\\s*${name}\\s+([^;]+);`, 'm').exec(body)?.[1];
  const seconds = (value: string | undefined): number => Number(/^(\d+)s$/.exec(value ?? '')?.[1] ?? 60);
  const openapi = parse(read('openapi.yaml')) as {
    paths: Record<string, Record<string, { parameters?: { name: string; schema?: { maximum?: number } }[] }>>;
  };
  const job = '/v1/jobs/0e2c5f4c-3c7a-4c39-9d0e-7d5f3b1a2b3c';

  it('passes the WebSocket upgrade through, unbuffered, with a read timeout far past the ping interval', () => {
    const ws = locate(`${job}/stream`)!;
    expect(directive(ws.body, 'proxy_set_header Upgrade')).toBe('$http_upgrade');
    expect(directive(ws.body, 'proxy_set_header Connection')).toBe('$connection_upgrade');
    expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade \{[^}]*default upgrade;/);
    expect(seconds(directive(ws.body, 'proxy_read_timeout'))).toBeGreaterThan(
      (10 * defaults.STREAM_PING_MS) / 1000,
    );
  });

  it('streams SSE without buffering or caching', () => {
    const sse = locate(`${job}/events`)!;
    expect(directive(sse.body, 'proxy_buffering')).toBe('off');
    expect(directive(sse.body, 'proxy_cache')).toBe('off');
    expect(seconds(directive(sse.body, 'proxy_read_timeout'))).toBeGreaterThan(
      (10 * defaults.STREAM_PING_MS) / 1000,
    );
    // Other job routes are plain requests.
    expect(locate(job)).not.toBe(sse);
    expect(locate(`${job}/images/0`)).not.toBe(sse);
  });

  it('waits as long as the API may hold a request open, for every route that waits', () => {
    const waits = Object.entries(openapi.paths).flatMap(([route, ops]) =>
      Object.values(ops).flatMap((op) =>
        (op.parameters ?? [])
          .filter((p) => p.name === 'timeout')
          .map((p) => ({ route, max: p.schema?.maximum })),
      ),
    );
    expect(waits.map((w) => w.route).sort()).toEqual(['/generate', '/v1/generate']);
    for (const { route, max } of [...waits, { route: '/v1/images/generations', max: 300 }]) {
      expect(seconds(directive(locate(route)!.body, 'proxy_read_timeout'))).toBeGreaterThan(max!);
    }
    for (const route of Object.keys(openapi.paths).filter((r) => r !== '/metrics')) {
      expect(directive(locate(route.replace(/\{[^}]+\}/g, '0'))!.body, 'proxy_pass')).toBe('$giraffe_api');
    }
    // /metrics needs no key: the gateway keeps it to the internal network.
    expect(locate('/metrics')!.body.trim()).toBe('deny all;');
  });

  it('sends traffic to the API port the compose file publishes', () => {
    expect(/set \$giraffe_api http:\/\/api:(\d+);/.exec(conf)?.[1]).toBe(String(defaults.PORT));
  });
});

describe('docker/healthcheck.js', () => {
  const script = path.join(root, 'docker', 'healthcheck.js');
  const check = (role: string, env: Record<string, string>): Promise<number> =>
    run(process.execPath, [script, role], { env: { PATH: process.env.PATH ?? '', ...env } }).then(
      () => 0,
      (err: { code: number }) => err.code,
    );

  it('serve: healthy while /healthz answers, unhealthy once the API is gone', async () => {
    const service = await startDemoService({ worker: false });
    await service.app.listen({ host: '127.0.0.1', port: 0 });
    const port = String((service.app.server.address() as AddressInfo).port);
    expect(await check('serve', { PORT: port })).toBe(0);
    await service.close();
    expect(await check('serve', { PORT: port })).toBe(1);
  });

  it('worker: healthy while this host’s worker heartbeats in Redis, unhealthy without one', async () => {
    const prefix = testPrefix('healthcheck');
    const driver = createQueueDriver({ redisUrl: REDIS_URL, prefix });
    try {
      const env = { REDIS_URL, REDIS_PREFIX: prefix, LOG_LEVEL: 'silent' };
      expect(await check('worker', env)).toBe(1);
      await driver.workers.heartbeat(
        {
          id: `health-${process.pid}`,
          host: os.hostname(),
          pid: process.pid,
          models: ['demo'],
          device: 'cpu',
          concurrency: 1,
          started_at: new Date().toISOString(),
          current_jobs: [],
        },
        30_000,
      );
      expect(await check('worker', env)).toBe(0);
      expect(await check('worker', { ...env, REDIS_PREFIX: testPrefix('healthcheck-other') })).toBe(1);
      // Redis away: the check ends by itself, unhealthy (its Redis calls time out after 5 s, inside
      // Docker's 10 s --timeout; no wall-clock assertion here, the CPUs are shared).
      expect(await check('worker', { ...env, REDIS_URL: 'redis://127.0.0.1:1' })).toBe(1);
    } finally {
      await driver.close();
      await deleteKeys(prefix);
    }
  });
});
