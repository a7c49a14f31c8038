import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parseA1111Parameters, readPngTextChunks, writeFixtureModel } from '../../src';
import { REDIS_URL, testPrefix } from '../helpers/redis';
import { describeOnSoftwareGpu, softwareGpuEnv } from '../helpers/software-gpu';

// The built CLI (npm test builds first) on webgpu, as an operator runs it.
jest.setTimeout(600_000);

const run = promisify(execFile);
const bin = path.resolve(__dirname, '..', '..', 'bin', 'giraffe.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-cli-webgpu-'));
const modelDir = path.join(tmp, 'models', 'fixture');
const env = { ...process.env, DATA_DIR: path.join(tmp, 'data'), MODELS_DIR: path.join(tmp, 'models') };

async function giraffe(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...env, ...extraEnv },
      cwd: tmp,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(() => writeFixtureModel(modelDir));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describeOnSoftwareGpu('the CLI on webgpu', () => {
  it('generate --device webgpu writes a PNG that names its device', async () => {
    const out = path.join(tmp, 'gpu.png');
    const r = await giraffe(
      [
        'generate',
        'a giraffe',
        '--model',
        modelDir,
        '--device',
        'webgpu',
        '--steps',
        '2',
        '--seed',
        '3',
        '--out',
        out,
      ],
      softwareGpuEnv(),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('seed 3');
    const parameters = parseA1111Parameters(readPngTextChunks(fs.readFileSync(out)).parameters);
    expect(parameters).toMatchObject({ seed: 3, steps: 2, extra: { Device: 'webgpu' } });
  });

  it('DEVICE=webgpu is the default device', async () => {
    const out = path.join(tmp, 'gpu-env.png');
    const r = await giraffe(['generate', 'x', '--model', modelDir, '--steps', '1', '--out', out], {
      ...softwareGpuEnv(),
      DEVICE: 'webgpu',
    });
    expect(r.code).toBe(0);
    expect(readPngTextChunks(fs.readFileSync(out)).parameters).toMatch(/Device: webgpu$/);
  });

  it('models verify --device webgpu lists an fp16 model the adapter cannot run', async () => {
    const half = path.join(tmp, 'models', 'fixture-fp16');
    await writeFixtureModel(half, { precision: 'fp16' });
    const r = await giraffe(['models', 'verify', half, '--device', 'webgpu'], softwareGpuEnv());
    // SwiftShader has no float16 shaders; a GPU with them would pass.
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/GIRAFFE_ERR_DEVICE_UNSUPPORTED|shader-f16/);
    expect((await giraffe(['models', 'verify', modelDir, '--device', 'webgpu'], softwareGpuEnv())).code).toBe(
      0,
    );
  });

  it('devices lists what each provider sees and runs the model one step on webgpu', async () => {
    const r = await giraffe(
      ['devices', '--device', 'webgpu', '--model', modelDir, '--json'],
      softwareGpuEnv(),
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      devices: { device: string; available: boolean; detail: string }[];
      model: { checks: { device: string; ok: boolean; step_ms: number }[] };
    };
    expect(report.devices).toEqual([
      expect.objectContaining({
        device: 'webgpu',
        available: true,
        detail: expect.stringContaining('shader-f16'),
      }),
    ]);
    expect(report.model.checks).toEqual([expect.objectContaining({ device: 'webgpu', ok: true })]);
  });
});

describe('webgpu without an adapter', () => {
  // A driver manifest that does not exist: the Vulkan loader finds no GPU, as on a host without drivers.
  const noGpu = { VK_ICD_FILENAMES: path.join(tmp, 'no-such-driver.json'), XDG_RUNTIME_DIR: tmp };

  it('a worker exits at start-up with a message naming the fix', async () => {
    const r = await giraffe(['worker', '--model', modelDir, '--device', 'webgpu'], {
      ...noGpu,
      REDIS_URL,
      REDIS_PREFIX: testPrefix('webgpu-cli'),
      LOG_LEVEL: 'warn',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no WebGPU adapter \(Failed to get a WebGPU adapter/);
    expect(r.stderr).toMatch(
      /libvulkan1.*VK_ICD_FILENAMES.*NVIDIA_DRIVER_CAPABILITIES must include graphics/s,
    );
    expect(r.stderr).toContain('[GIRAFFE_ERR_DEVICE_UNAVAILABLE]');
  });

  it('devices says webgpu is unavailable, and why', async () => {
    const r = await giraffe(['devices'], noGpu);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cpu\s+CPUExecutionProvider\s+bundled\s+available/m);
    expect(r.stdout).toMatch(
      /^webgpu\s+WebGpuExecutionProvider\s+bundled\s+unavailable\s+webgpu: no WebGPU adapter/m,
    );
    expect((await giraffe(['devices', '--device', 'webgpu'], noGpu)).code).toBe(1);
  });

  it('webgpu:N is refused with how to pin a GPU, on the command line and in DEVICE', async () => {
    const r = await giraffe(['generate', 'x', '--model', modelDir, '--device', 'webgpu:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot pick one by index.*NVIDIA_VISIBLE_DEVICES/);
    const c = await giraffe(['generate', 'x', '--model', modelDir], { DEVICE: 'webgpu:1' });
    expect(c.code).toBe(78);
    expect(c.stderr).toMatch(/DEVICE.*webgpu takes no index/);
  });
});
