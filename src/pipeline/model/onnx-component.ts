import * as ort from 'onnxruntime-node';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { GiraffeError } from '../../errors';
import { assertDeviceAvailable, executionProviders } from './execution-device';
import { fromFloat16, toFloat16 } from './float16';
import { withWebgpuLock } from './webgpu-lock';
import { explainWebgpuError } from './webgpu-probe';

/** Tensor element types giraffe feeds to or reads from a Stable Diffusion export. */
export type ElementType = 'float32' | 'float16' | 'int32' | 'int64';

/** One input or output of an ONNX session, as the session itself reports it. */
export interface TensorSignature {
  readonly name: string;
  readonly type: ElementType;
  /** Fixed sizes as numbers; symbolic (dynamic) sizes as their names. */
  readonly shape: readonly (number | string)[];
}

/** A value to feed: numbers in float32 or int32; the component converts to what the session takes. */
export interface FeedValue {
  readonly data: Float32Array | Int32Array;
  readonly dims: readonly number[];
}

/**
 * Where sessions run. `cuda:N` needs onnxruntime-node installed with its CUDA
 * libraries; `webgpu` needs a GPU with a Vulkan (D3D12, Metal) driver.
 */
export interface SessionSettings {
  /** `cpu`, `webgpu` or `cuda:N`. @defaultValue `cpu` */
  readonly device?: string;
  /** onnxruntime intra-op threads; 0 lets it choose. @defaultValue 0 */
  readonly intraOpThreads?: number;
}

const supportedTypes = new Set<string>(['float32', 'float16', 'int32', 'int64']);

/**
 * One ONNX session of a model (text encoder, U-Net or VAE decoder): reads its
 * signature from the session metadata, converts inputs to the dtypes it takes
 * (int64 ids, float16 weights) and outputs back to float32, and counts the
 * time spent inside `session.run`.
 */
export class OnnxComponent {
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
  /** Milliseconds spent inside `session.run` since the last {@link takeRunTime}. */
  #runMs = 0;
  /** webgpu sessions take the process-wide lock (webgpu-lock.ts) around every call into onnxruntime. */
  readonly #exclusive: <T>(fn: () => Promise<T>) => Promise<T>;

  private constructor(
    readonly file: string,
    readonly label: string,
    readonly session: ort.InferenceSession,
    readonly device: string,
  ) {
    this.#exclusive = device === 'webgpu' ? withWebgpuLock : (fn) => fn();
    this.inputs = session.inputMetadata.map((m) => this.#signature(m, 'input'));
    this.outputs = session.outputMetadata.map((m) => this.#signature(m, 'output'));
  }

  /** Creates the session; a file onnxruntime cannot load fails with a message naming it. */
  static async create(file: string, label: string, settings: SessionSettings = {}): Promise<OnnxComponent> {
    const device = settings.device ?? 'cpu';
    assertDeviceAvailable(device);
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: executionProviders(device),
      graphOptimizationLevel: 'all',
      // webgpu warns at every load that shape ops stay on the CPU (by design); keep errors only.
      ...(device === 'webgpu' ? { logSeverityLevel: 3 as const } : {}),
      ...(settings.intraOpThreads ? { intraOpNumThreads: settings.intraOpThreads } : {}),
    };
    let session: ort.InferenceSession;
    try {
      session =
        device === 'webgpu'
          ? await withWebgpuLock(() => ort.InferenceSession.create(file, options))
          : await ort.InferenceSession.create(file, options);
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      if (device === 'webgpu') {
        const explained = explainWebgpuError(err, label);
        if (explained !== err) throw explained;
      } else if (device !== 'cpu' && /provider|cuda|libonnxruntime_providers/i.test(message)) {
        throw new GiraffeError(
          'GIRAFFE_ERR_DEVICE_UNAVAILABLE',
          `${label}: onnxruntime-node cannot run on ${device} (${message}). Install it with ONNXRUNTIME_NODE_INSTALL=cuda12 and a CUDA 12 runtime, or use --device cpu.`,
          { device, file },
        );
      }
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_LOAD_FAILED',
        `${label}: onnxruntime could not load it: ${message}`,
        { file },
        { cause: err },
      );
    }
    return new OnnxComponent(file, label, session, device);
  }

  #signature(meta: ort.InferenceSession.ValueMetadata, kind: 'input' | 'output'): TensorSignature {
    if (!meta.isTensor || !supportedTypes.has(meta.type)) {
      const type = meta.isTensor ? meta.type : 'a non-tensor value';
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_CONTRACT',
        `${this.label}: ${kind} "${meta.name}" is ${type}; giraffe supports float32, float16, int32 and int64 tensors`,
        {
          file: this.file,
        },
      );
    }
    return { name: meta.name, type: meta.type as ElementType, shape: [...meta.shape] };
  }

  input(name: string): TensorSignature | undefined {
    return this.inputs.find((s) => s.name === name);
  }

  /** Runs the session. Feeds are converted to each input's dtype; outputs come back as float32. */
  async run(
    feeds: Record<string, FeedValue>,
    outputNames?: readonly string[],
  ): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, value] of Object.entries(feeds)) {
      const sig = this.input(name);
      if (!sig) throw new Error(`${this.label}: has no input "${name}"`);
      tensors[name] = toTensor(sig.type, value);
    }
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.#exclusive(async () => {
        // Timed inside the lock: waiting for another thread's webgpu run is not this session's time.
        const start = performance.now();
        try {
          return await (outputNames
            ? this.session.run(tensors, outputNames as string[])
            : this.session.run(tensors));
        } finally {
          this.#runMs += performance.now() - start;
        }
      });
    } catch (err) {
      const explained = this.device === 'webgpu' ? explainWebgpuError(err, this.label) : err;
      if (explained !== err) throw explained;
      throw runFailure(this.label, err);
    }
    const out: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const [name, tensor] of Object.entries(results)) {
      out[name] = { data: fromTensor(tensor), dims: [...tensor.dims] };
      tensor.dispose();
    }
    return out;
  }

  /** Returns the time spent in `session.run` since the previous call and resets the counter. */
  takeRunTime(): number {
    const ms = this.#runMs;
    this.#runMs = 0;
    return ms;
  }

  async release(): Promise<void> {
    await this.#exclusive(() => this.session.release());
  }

  get name(): string {
    return path.basename(path.dirname(this.file));
  }
}

function toTensor(type: ElementType, value: FeedValue): ort.Tensor {
  const dims = [...value.dims];
  switch (type) {
    case 'float32':
      return new ort.Tensor(
        'float32',
        value.data instanceof Float32Array ? value.data : Float32Array.from(value.data),
        dims,
      );
    case 'float16':
      return new ort.Tensor(
        'float16',
        toFloat16(value.data instanceof Float32Array ? value.data : Float32Array.from(value.data)),
        dims,
      );
    case 'int32':
      return new ort.Tensor(
        'int32',
        value.data instanceof Int32Array ? value.data : Int32Array.from(value.data, Math.trunc),
        dims,
      );
    case 'int64': {
      // numpy's float→int64 cast truncates toward zero; fractional timesteps do the same.
      const ids = new BigInt64Array(value.data.length);
      for (let i = 0; i < ids.length; i++) ids[i] = BigInt(Math.trunc(value.data[i]));
      return new ort.Tensor('int64', ids, dims);
    }
  }
}

function fromTensor(tensor: ort.Tensor): Float32Array {
  switch (tensor.type) {
    case 'float32':
      return tensor.data as Float32Array;
    case 'float16':
      return fromFloat16(tensor.data as Uint16Array);
    default:
      return Float32Array.from(tensor.data as ArrayLike<number>);
  }
}

/**
 * A failed `session.run` as a job reason someone can act on: which component
 * failed, and whether it ran out of memory (onnxruntime's arena reports a
 * failed allocation as a status message deep inside its own text). Retryable:
 * a run that failed for memory or a transient fault may pass on another try
 * or another worker.
 */
function runFailure(label: string, err: unknown): GiraffeError {
  const message = err instanceof Error ? err.message : String(err);
  const outOfMemory = /failed to allocate memory|bad_alloc|out of memory/i.test(message);
  return new GiraffeError(
    'GIRAFFE_ERR_GENERATION_FAILED',
    `${label}: ${outOfMemory ? 'ran out of memory' : 'onnxruntime failed while running it'}: ${message.trim()}`,
    { component: label, ...(outOfMemory ? { out_of_memory: true } : {}) },
    { cause: err },
  );
}
