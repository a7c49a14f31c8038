import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { GiraffeError } from '../../errors';

/** A parsed `--device` value. */
export type Device =
  { readonly kind: 'cpu' } | { readonly kind: 'cuda'; readonly index: number } | { readonly kind: 'webgpu' };

/** The devices `--device` and DEVICE take, as a usage string. */
export const deviceChoices = 'cpu | webgpu | cuda[:N]';

/**
 * How to run on one GPU of several with webgpu: onnxruntime-node 1.30 cannot
 * choose an adapter (it refuses `deviceId`, `adapterIndex` and
 * `powerPreference` as unrecognised options) and takes the first one Dawn
 * finds, so the choice has to be made outside the process.
 */
export const webgpuPinningHelp =
  'webgpu takes the first GPU the driver offers and cannot pick one by index. Run one worker process ' +
  '(or container) per GPU and show each only its own: NVIDIA_VISIBLE_DEVICES=N in a container (the NVIDIA ' +
  "container toolkit), or the Vulkan driver's own device selection (e.g. MESA_VK_DEVICE_SELECT=vendor:device " +
  'for Mesa drivers; see docs/deployment.md)';

export function parseDevice(device: string): Device {
  if (device === 'cpu') return { kind: 'cpu' };
  if (device === 'webgpu') return { kind: 'webgpu' };
  if (/^webgpu:/.test(device)) {
    throw new GiraffeError(
      'GIRAFFE_ERR_DEVICE_UNAVAILABLE',
      `--device ${device}: ${webgpuPinningHelp}. Use --device webgpu.`,
      { device },
    );
  }
  const cuda = /^cuda(?::(\d{1,2}))?$/.exec(device);
  if (cuda) return { kind: 'cuda', index: Number(cuda[1] ?? 0) };
  throw new GiraffeError(
    'GIRAFFE_ERR_DEVICE_UNAVAILABLE',
    `unknown device "${device}": use ${deviceChoices}`,
    { device },
  );
}

/** onnxruntime's name for the execution provider a device runs on (as its profiles and logs print it). */
export function executionProviderName(device: string): string {
  const kind = parseDevice(device).kind;
  return kind === 'cpu'
    ? 'CPUExecutionProvider'
    : kind === 'cuda'
      ? 'CUDAExecutionProvider'
      : 'WebGpuExecutionProvider';
}

/** Where onnxruntime-node keeps its native libraries (the CUDA provider lands there when installed). */
function bindingDirs(): string[] {
  const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const bin = path.join(root, 'bin');
  if (!fs.existsSync(bin)) return [];
  return fs
    .readdirSync(bin)
    .filter((d) => d.startsWith('napi-'))
    .map((d) => path.join(bin, d, process.platform, process.arch));
}

/**
 * Refuses a CUDA device when onnxruntime-node was installed without its CUDA
 * provider (the default here: ONNXRUNTIME_NODE_INSTALL=skip), instead of
 * letting a worker start and fail on every job — or, worse, run on CPU.
 * webgpu ships in every onnxruntime-node build; whether a GPU answers is
 * checked when the first session is created (see webgpu-probe.ts).
 */
export function assertDeviceAvailable(device: string): Device {
  const parsed = parseDevice(device);
  if (parsed.kind === 'cuda') {
    const found = bindingDirs().some((dir) =>
      fs.existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so')),
    );
    if (!found) {
      throw new GiraffeError(
        'GIRAFFE_ERR_DEVICE_UNAVAILABLE',
        `--device ${device}: this onnxruntime-node has no CUDA provider. Reinstall it with CUDA support ` +
          `(ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js, on a machine with the CUDA 12 runtime and cuDNN 9), ` +
          `or use --device webgpu (any GPU with a Vulkan driver, no extra install) or --device cpu.`,
        { device },
      );
    }
  }
  return parsed;
}

/** onnxruntime's execution-provider list for a device. */
export function executionProviders(device: string): ort.InferenceSession.ExecutionProviderConfig[] {
  const parsed = parseDevice(device);
  switch (parsed.kind) {
    case 'cpu':
      return ['cpu'];
    case 'cuda':
      return [{ name: 'cuda', deviceId: parsed.index }];
    case 'webgpu':
      // Validation checks every Dawn call; measured ~7 % faster without, and our graphs are fixed exports.
      return [{ name: 'webgpu', validationMode: 'disabled' } as ort.InferenceSession.ExecutionProviderConfig];
  }
}
