import * as ort from 'onnxruntime-node';
import { GiraffeError } from '../../errors';
import { OnnxGraphBuilder } from '../demo/onnx/graph-builder';
import { TensorDataType } from '../demo/onnx/onnx-proto';
import { executionProviders } from './execution-device';
import { withWebgpuLock } from './webgpu-lock';

/** What a tiny test graph found out about this process's WebGPU adapter. */
export interface WebgpuCapabilities {
  /** Whether the adapter runs float16 shaders (WebGPU's `shader-f16`); fp16 exports need it. */
  readonly shaderF16: boolean;
}

/** What an operator has to fix when no WebGPU adapter answers. */
export const webgpuAdapterHelp =
  'webgpu needs a GPU with a Vulkan driver (Linux; D3D12 on Windows, Metal on macOS) and the Vulkan loader ' +
  '(Debian/Ubuntu: apt-get install libvulkan1). Check that the GPU driver is installed and that ' +
  'VK_ICD_FILENAMES, if set, names an existing driver manifest. In a container, pass the GPU in: ' +
  'NVIDIA_DRIVER_CAPABILITIES must include graphics (not only compute,utility), or map /dev/dri for ' +
  'AMD and Intel (see docs/deployment.md). Or use --device cpu.';

/** onnxruntime's messages when Dawn finds no adapter or cannot open a device on it. */
const noAdapter =
  /WebGPU adapter|No supported adapters|Failed to (?:get|create) (?:a )?WebGPU device|WGPUDevice/i;

/** onnxruntime's message when a float16 kernel meets an adapter without shader-f16. */
const needsF16 = /requires f16|shader-f16|does not support (?:f16|float16)/i;

/** Turns onnxruntime's "no adapter" failure into a message naming the fix; other errors are returned as they are. */
export function explainWebgpuError(err: unknown, what: string): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (noAdapter.test(message)) {
    // onnxruntime prefixes its source location and the failed check; Dawn's reason is the useful part.
    const reason = /Failed to [^\n]*/.exec(message)?.[0] ?? message.trim();
    return new GiraffeError(
      'GIRAFFE_ERR_DEVICE_UNAVAILABLE',
      `${what}: no WebGPU adapter (${reason}). ${webgpuAdapterHelp}`,
      { device: 'webgpu' },
      { cause: err },
    );
  }
  if (needsF16.test(message)) return fp16Refusal(what, err);
  return err;
}

/** The refusal of an fp16 model on an adapter without float16 shaders. */
export function fp16Refusal(what: string, cause?: unknown): GiraffeError {
  return new GiraffeError(
    'GIRAFFE_ERR_DEVICE_UNSUPPORTED',
    `${what}: this is a float16 model, and this WebGPU adapter has no float16 shaders (shader-f16). ` +
      'Use a float32 export of the model on this device, a GPU whose driver offers shader-f16, or --device cpu.',
    { device: 'webgpu', precision: 'float16' },
    cause === undefined ? undefined : { cause },
  );
}

/** x (float32) → Cast float16 → Cast float32: the smallest graph that needs float16 shaders. */
function castGraph(): Uint8Array {
  const g = new OnnxGraphBuilder('giraffe_webgpu_probe', { opset: 17 });
  g.input('x', 'float32', [4]);
  const half = g.op('Cast', ['x'], { to: TensorDataType.float16 });
  const back = g.op('Cast', [half], { to: TensorDataType.float32 });
  g.output('y', 'float32', [4], back);
  return g.toBytes();
}

let probed: Promise<WebgpuCapabilities> | undefined;

async function probe(): Promise<WebgpuCapabilities> {
  const session = await withWebgpuLock(async () => {
    try {
      return await ort.InferenceSession.create(castGraph(), {
        executionProviders: executionProviders('webgpu'),
        // Left unoptimised: a later onnxruntime may fold the Cast pair away, and then nothing needs f16.
        graphOptimizationLevel: 'disabled',
        // Its expected failure on adapters without f16 is an answer, not an error for the log.
        logSeverityLevel: 4,
      });
    } catch (err) {
      throw explainWebgpuError(err, 'webgpu');
    }
  });
  try {
    const x = new ort.Tensor('float32', new Float32Array([1, 0.5, -2, 3]), [4]);
    await withWebgpuLock(() => session.run({ x }));
    return { shaderF16: true };
  } catch (err) {
    const explained = explainWebgpuError(err, 'webgpu');
    if (explained instanceof GiraffeError && explained.code === 'GIRAFFE_ERR_DEVICE_UNSUPPORTED') {
      return { shaderF16: false };
    }
    throw explained;
  } finally {
    await withWebgpuLock(() => session.release());
  }
}

/**
 * Asks this process's WebGPU adapter, once, what it can do: throws
 * GIRAFFE_ERR_DEVICE_UNAVAILABLE (naming the fix) when there is none. Dawn
 * answers within ~0.1 s either way, so a worker checks this before it loads
 * a model rather than failing its first job.
 */
export function probeWebgpu(): Promise<WebgpuCapabilities> {
  probed ??= probe();
  probed.catch(() => {
    probed = undefined; // A failure is not cached: a later call asks again.
  });
  return probed;
}
