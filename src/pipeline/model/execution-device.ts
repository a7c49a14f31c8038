import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { GiraffeError } from '../../errors';

/** A parsed `--device` value. */
export type Device = { readonly kind: 'cpu' } | { readonly kind: 'cuda'; readonly index: number };

export function parseDevice(device: string): Device {
  if (device === 'cpu') return { kind: 'cpu' };
  const cuda = /^cuda(?::(\d{1,2}))?$/.exec(device);
  if (cuda) return { kind: 'cuda', index: Number(cuda[1] ?? 0) };
  throw new GiraffeError('GIRAFFE_ERR_DEVICE_UNAVAILABLE', `unknown device "${device}": use cpu or cuda:N`, {
    device,
  });
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
          `(ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js, on a machine with the CUDA 12 runtime and cuDNN 9), or run with --device cpu.`,
        { device },
      );
    }
  }
  return parsed;
}

/** onnxruntime's execution-provider list for a device. */
export function executionProviders(device: string): ort.InferenceSession.ExecutionProviderConfig[] {
  const parsed = parseDevice(device);
  return parsed.kind === 'cpu' ? ['cpu'] : [{ name: 'cuda', deviceId: parsed.index }];
}
