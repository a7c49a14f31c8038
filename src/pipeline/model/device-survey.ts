import * as ort from 'onnxruntime-node';
import { GiraffeError } from '../../errors';
import { assertDeviceAvailable, executionProviderName } from './execution-device';
import { probeWebgpu } from './webgpu-probe';

/** What one device looks like from this process. */
export interface DeviceStatus {
  /** The `--device` value. */
  readonly device: string;
  /** onnxruntime's name for its execution provider. */
  readonly provider: string;
  /** Whether this onnxruntime-node build ships the provider without an extra install. */
  readonly bundled: boolean;
  readonly available: boolean;
  /** What it offers (`shader-f16: no`), or why it is not available and what to do. */
  readonly detail: string;
}

/** The devices giraffe can run on, in the order `giraffe devices` lists them. */
export const surveyedDevices = ['cpu', 'webgpu', 'cuda:0'] as const;

async function check(device: string): Promise<string> {
  assertDeviceAvailable(device);
  if (device !== 'webgpu') return 'ready';
  const caps = await probeWebgpu();
  return `adapter found; float16 shaders (shader-f16): ${caps.shaderF16 ? 'yes' : 'no, float32 models only'}`;
}

/**
 * Asks each execution provider whether it works here: the CPU always does;
 * webgpu runs a tiny graph on the first adapter Dawn finds (onnxruntime-node
 * does not expose the adapter's name); CUDA needs onnxruntime's CUDA libraries.
 */
export async function surveyDevices(): Promise<DeviceStatus[]> {
  const bundled = new Map(ort.listSupportedBackends().map((b) => [b.name, b.bundled]));
  const out: DeviceStatus[] = [];
  for (const device of surveyedDevices) {
    const base = {
      device,
      provider: executionProviderName(device),
      bundled: bundled.get(device.replace(/:.*$/, '')) ?? false,
    };
    try {
      out.push({ ...base, available: true, detail: await check(device) });
    } catch (err) {
      const detail = err instanceof GiraffeError || err instanceof Error ? err.message : String(err);
      out.push({ ...base, available: false, detail });
    }
  }
  return out;
}
