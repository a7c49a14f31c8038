import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { configSchema, loadConfig } from '../../src/config';
import { parseDevice } from '../../src/pipeline/model';
import {
  containerEnv,
  interpolate,
  readCompose,
  readDotenv,
  RESET,
  root,
  type ComposeService,
  type Override,
} from '../helpers/compose-files';

// docker-compose.yml and its overrides, read the way Compose reads them and
// checked against the code they start: settings, commands, ports, volumes.
// No Docker engine runs here; the CLI itself parses each service's command.
const run = promisify(execFile);
const bin = path.join(root, 'bin', 'giraffe.js');
const settingNames = new Set(Object.keys(configSchema.shape));
const compose = readCompose('docker-compose.yml');
/** `cp .env.example .env`, as the guide says: the file Compose reads for interpolation and env_file. */
const dotenv = readDotenv('.env.example');
const envFiles = { '.env': dotenv };
const giraffeServices = ['api', 'worker'] as const;

/** A service's container environment as src/config.ts sees it. */
const configOf = (service: ComposeService) => loadConfig(containerEnv(service, dotenv, envFiles));

/** Runs the command of a service through the real CLI (with --help: it parses every flag, then stops). */
async function parsesCommand(service: ComposeService): Promise<void> {
  const args = (service.command ?? []).map((a) => interpolate(a, dotenv));
  const env = { ...containerEnv(service, dotenv, envFiles), PATH: process.env.PATH ?? '' };
  const { stdout } = await run(process.execPath, [bin, ...args, '--help'], { env });
  expect(stdout).toContain(`Usage: giraffe ${args[0]}`);
}

const mountTarget = (volumes: string[] | undefined, source: string): string | undefined =>
  volumes?.map((v) => v.split(':')).find(([s]) => s === source)?.[1];

describe('docker-compose.yml', () => {
  it('runs redis, the API and workers, reading .env', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'redis', 'worker']);
    expect(fs.existsSync(path.join(root, '.env.example'))).toBe(true);
    for (const name of giraffeServices) expect([compose.services[name].env_file].flat()).toEqual(['.env']);
  });

  it('keeps Redis on a volume with AOF persistence, never evicting queue keys', () => {
    const redis = compose.services.redis;
    const command = redis.command!.join(' ');
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
    const volume = redis.volumes!.map((v) => v.split(':')).find(([, target]) => target === '/data');
    expect(volume).toBeDefined();
    expect(compose.volumes).toHaveProperty(volume![0]);
    expect(redis.healthcheck?.test.join(' ')).toContain('redis-cli ping');
  });

  it('names only settings that src/config.ts reads, and they validate', () => {
    for (const name of giraffeServices) {
      const service = compose.services[name];
      for (const key of Object.keys(service.environment ?? {})) expect(settingNames).toContain(key);
      expect(() => configOf(service)).not.toThrow();
    }
  });

  it('points both at the redis service and at shared volumes for models and results', () => {
    const api = configOf(compose.services.api);
    const worker = configOf(compose.services.worker);
    expect(new URL(api.REDIS_URL!).hostname).toBe('redis');
    expect(worker.REDIS_URL).toBe(api.REDIS_URL);
    expect(worker.REDIS_PREFIX).toBe(api.REDIS_PREFIX);
    expect(api.RESULTS_STORE).toBe('files');
    for (const [dir, setting] of [
      ['models', 'MODELS_DIR'],
      ['data', 'DATA_DIR'],
    ] as const) {
      expect(compose.volumes).toHaveProperty(dir);
      expect(mountTarget(compose.services.api.volumes, dir)).toBe(api[setting]);
      expect(mountTarget(compose.services.worker.volumes, dir)).toBe(worker[setting]);
    }
  });

  it('publishes the port the API listens on', () => {
    const api = configOf(compose.services.api);
    const ports = compose.services.api.ports as string[];
    expect(ports).toHaveLength(1);
    const [host, container] = interpolate(ports[0], dotenv).split(':').map(Number);
    expect(container).toBe(api.PORT);
    expect(host).toBe(api.PORT);
    expect(api.HOST).toBe('0.0.0.0');
  });

  it('gives the worker a GPU and leaves it free to scale (no fixed name, no host port)', () => {
    const worker = compose.services.worker;
    const devices = worker.deploy?.resources?.reservations?.devices as {
      driver: string;
      capabilities: string[];
    }[];
    expect(devices).toEqual([expect.objectContaining({ driver: 'nvidia', capabilities: ['gpu'] })]);
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    const args = worker.command!.map((a) => interpolate(a, dotenv));
    const device = args[args.indexOf('--device') + 1];
    expect(parseDevice(device)).toMatchObject({ kind: 'cuda' });
    // The worker serves the model the API sends requests to when they name none.
    expect(args[args.indexOf('--model') + 1]).toBe(configOf(worker).DEFAULT_MODEL);
    expect(worker.build?.target).toBe('cuda');
  });

  it('waits for Redis and gives a running job its grace period on shutdown', () => {
    for (const name of giraffeServices) {
      const service = compose.services[name];
      expect(service.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
      const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1]) * 1000;
      expect(grace).toBeGreaterThan(configOf(service).SHUTDOWN_GRACE_MS);
    }
  });

  it.each(giraffeServices)('starts %s with a command the CLI accepts', async (name) => {
    await parsesCommand(compose.services[name]);
  });
});

describe('overrides in docker/', () => {
  it('compose.cpu.yml drops the GPU reservation and runs workers on the CPU image', async () => {
    const cpu = readCompose('docker/compose.cpu.yml').services.worker;
    expect(cpu.deploy?.resources?.reservations?.devices).toBe(RESET);
    expect(cpu.build?.target).toBe('cpu');
    const args = cpu.command!.map((a) => interpolate(a, dotenv));
    expect(parseDevice(args[args.indexOf('--device') + 1])).toMatchObject({ kind: 'cpu' });
    await parsesCommand({ ...compose.services.worker, ...cpu });
  });

  it('compose.webgpu.yml runs workers on the webgpu image with the graphics (Vulkan) part of the NVIDIA driver', async () => {
    const webgpu = readCompose('docker/compose.webgpu.yml').services.worker;
    expect(webgpu.build?.target).toBe('webgpu');
    const args = webgpu.command!.map((a) => interpolate(a, dotenv));
    expect(parseDevice(args[args.indexOf('--device') + 1])).toMatchObject({ kind: 'webgpu' });
    expect(args[args.indexOf('--model') + 1]).toBe(configOf(compose.services.worker).DEFAULT_MODEL);
    expect(webgpu.environment!.NVIDIA_DRIVER_CAPABILITIES.split(',')).toContain('graphics');
    const devices = (webgpu.deploy?.resources?.reservations?.devices as Override).override as {
      driver: string;
      capabilities: string[];
    }[];
    expect(devices).toEqual([expect.objectContaining({ driver: 'nvidia' })]);
    expect(devices[0].capabilities).toEqual(expect.arrayContaining(['gpu', 'graphics']));
    await parsesCommand({ ...compose.services.worker, ...webgpu });
  });

  it('compose.webgpu-dri.yml gives AMD and Intel workers /dev/dri and no NVIDIA reservation', async () => {
    const dri = readCompose('docker/compose.webgpu-dri.yml').services.worker as ComposeService & {
      devices?: string[];
      group_add?: string[];
    };
    expect(dri.build?.target).toBe('webgpu');
    expect(dri.deploy?.resources?.reservations?.devices).toBe(RESET);
    expect(dri.devices).toEqual(['/dev/dri:/dev/dri']);
    expect(dri.group_add?.map((g) => interpolate(g, dotenv))).toEqual(['105', '44']);
    const args = dri.command!.map((a) => interpolate(a, dotenv));
    expect(parseDevice(args[args.indexOf('--device') + 1])).toMatchObject({ kind: 'webgpu' });
    await parsesCommand({ ...compose.services.worker, ...dri });
  });

  it('compose.multi-gpu.yml gives each worker service its own GPU', () => {
    const multi = readCompose('docker/compose.multi-gpu.yml').services;
    const ids = Object.entries(multi).map(([name, s]) => {
      if (name !== 'worker') expect(s.extends).toEqual({ file: '../docker-compose.yml', service: 'worker' });
      const devices = (s.deploy?.resources?.reservations?.devices as Override).override as {
        device_ids: string[];
      }[];
      expect(devices).toHaveLength(1);
      return devices[0].device_ids.join(',');
    });
    expect(new Set(ids).size).toBe(ids.length);
    expect(fs.existsSync(path.join(root, 'docker', multi['worker-gpu1'].extends!.file))).toBe(true);
  });

  it('compose.gateway.yml hides the API replicas behind nginx and insists on a shared stream-token key', () => {
    const gateway = readCompose('docker/compose.gateway.yml').services;
    expect(gateway.api.ports).toBe(RESET);
    const secret = gateway.api.environment!.STREAM_TOKEN_SECRET;
    expect(settingNames).toContain('STREAM_TOKEN_SECRET');
    expect(() => interpolate(secret, dotenv)).toThrow(/STREAM_TOKEN_SECRET/);
    const key = 'a-shared-key-of-32-characters-00';
    expect(
      loadConfig({ STREAM_TOKEN_SECRET: interpolate(secret, { ...dotenv, STREAM_TOKEN_SECRET: key }) }),
    ).toMatchObject({
      STREAM_TOKEN_SECRET: key,
    });
    const mount = gateway.gateway.volumes![0].split(':');
    expect(fs.existsSync(path.join(root, mount[0]))).toBe(true);
    expect(mount[1]).toBe('/etc/nginx/nginx.conf');
  });
});

describe('interpolate', () => {
  it('follows Compose: defaults for unset or empty, errors for required', () => {
    expect(interpolate('${A:-x} ${B-y} ${C:-z} $$HOME $A', { A: '1', C: '' })).toBe('1 y z $HOME 1');
    expect(() => interpolate('${C:?needed}', { C: '' })).toThrow('C: needed');
  });
});
