import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import {
  AttributeType,
  DATA_LOCATION_EXTERNAL,
  TensorDataType,
  onnxTypes,
  type AttributeMessage,
  type DType,
  type ModelMessage,
  type NodeMessage,
  type TensorMessage,
  type ValueInfoMessage,
} from './onnx-proto';

/** A tensor dimension: a fixed size, or a symbolic name such as `"batch"`. */
export type Dim = number | string;

/** Initializer contents; `Uint16Array` holds float16 bit patterns. */
export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint16Array;

/** A float attribute (a bare number is an int attribute, see {@link AttributeValue}). */
export interface FloatAttribute {
  readonly kind: 'float';
  readonly value: number;
}

/** A list-of-floats attribute. */
export interface FloatsAttribute {
  readonly kind: 'floats';
  readonly value: readonly number[];
}

/** A tensor attribute (e.g. `Constant`'s `value`). */
export interface TensorAttribute {
  readonly kind: 'tensor';
  readonly data: TensorData;
  readonly dims: readonly number[];
}

/**
 * An attribute value. Bare numbers and number arrays are INT/INTS (most ONNX
 * attributes are integers: axes, perms, kernel shapes); floats must be marked
 * with {@link float}/{@link floats} because `1.0` and `1` are the same JS value.
 */
export type AttributeValue =
  number | readonly number[] | string | FloatAttribute | FloatsAttribute | TensorAttribute;

/** Marks a float attribute. */
export const float = (value: number): FloatAttribute => ({ kind: 'float', value });
/** Marks a list-of-floats attribute. */
export const floats = (value: readonly number[]): FloatsAttribute => ({ kind: 'floats', value });
/** Marks a tensor attribute. */
export const tensor = (data: TensorData, dims: readonly number[]): TensorAttribute => ({
  kind: 'tensor',
  data,
  dims,
});

/** Options of {@link OnnxGraphBuilder}. */
export interface GraphBuilderOptions {
  /** Default-domain opset. @defaultValue 17 */
  readonly opset?: number;
  /** ONNX IR version; 8 is the one that goes with opset 17 (onnx 1.12). @defaultValue 8 */
  readonly irVersion?: number;
  /** `producer_name` recorded in the model. @defaultValue `giraffe` */
  readonly producerName?: string;
  /** `doc_string` of the model. */
  readonly docString?: string;
}

/** Options of {@link OnnxGraphBuilder.save}. */
export interface SaveOptions {
  /**
   * File name, next to the model, that takes the initializers of at least
   * `sizeThreshold` bytes (optimum writes `model.onnx_data`, the diffusers
   * convert script `weights.pb`). Unset: everything stays inside the model.
   */
  readonly externalData?: string;
  /** Initializers smaller than this stay inline. @defaultValue 1024 (the onnx package's default) */
  readonly sizeThreshold?: number;
}

// Offsets in the external file are aligned so that memory-mapped readers get aligned typed views.
const EXTERNAL_ALIGNMENT = 64;

function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  return 'float16';
}

/** Little-endian bytes of a typed array (every platform Node runs on is little-endian). */
function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorMessage(name: string, data: TensorData, dims: readonly number[]): TensorMessage {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new Error(`tensor ${name}: ${data.length} values do not fill dims [${dims.join(', ')}]`);
  }
  return { name, dims: [...dims], dataType: TensorDataType[dtypeOf(data)], rawData: bytesOf(data) };
}

function valueInfo(name: string, dtype: DType, shape: readonly Dim[]): ValueInfoMessage {
  return {
    name,
    type: {
      tensorType: {
        elemType: TensorDataType[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attributeMessage(name: string, value: AttributeValue): AttributeMessage {
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new Error(`attribute ${name}: ${value} is not an int; wrap floats in float()`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (typeof value === 'string')
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value))
    return { name, type: AttributeType.INTS, ints: [...(value as readonly number[])] };
  const tagged = value as FloatAttribute | FloatsAttribute | TensorAttribute;
  switch (tagged.kind) {
    case 'float':
      return { name, type: AttributeType.FLOAT, f: tagged.value };
    case 'floats':
      return { name, type: AttributeType.FLOATS, floats: [...tagged.value] };
    case 'tensor':
      return { name, type: AttributeType.TENSOR, t: tensorMessage(name, tagged.data, tagged.dims) };
  }
}

/**
 * Builds one ONNX graph in memory and writes it as a model file. Every value
 * name is made unique, so helpers can pass readable hints without clashing.
 *
 * ```ts
 * const g = new OnnxGraphBuilder('double');
 * const x = g.input('x', 'float32', ['batch', 3]);
 * g.output('y', 'float32', ['batch', 3], g.op('Mul', [x, g.scalar('two', 2)]));
 * await g.save('model.onnx');
 * ```
 */
export class OnnxGraphBuilder {
  readonly #name: string;
  readonly #options: GraphBuilderOptions;
  readonly #used = new Set<string>();
  readonly #inputs: ValueInfoMessage[] = [];
  readonly #outputs: ValueInfoMessage[] = [];
  readonly #initializers: TensorMessage[] = [];
  readonly #nodes: NodeMessage[] = [];

  constructor(name: string, options: GraphBuilderOptions = {}) {
    this.#name = name;
    this.#options = options;
  }

  /** A fresh name starting with `hint` (`hint`, then `hint_1`, `hint_2`, …). */
  uniqueName(hint: string): string {
    let name = hint;
    for (let i = 1; this.#used.has(name); i++) name = `${hint}_${i}`;
    this.#used.add(name);
    return name;
  }

  #claim(name: string): string {
    if (this.#used.has(name)) throw new Error(`graph ${this.#name}: the name "${name}" is already used`);
    this.#used.add(name);
    return name;
  }

  /** Declares a graph input; returns its name. */
  input(name: string, dtype: DType, shape: readonly Dim[]): string {
    this.#inputs.push(valueInfo(this.#claim(name), dtype, shape));
    return name;
  }

  /**
   * Declares a graph output. With `value`, the output is that value, passed
   * through an `Identity` node so the output gets the exact name.
   */
  output(name: string, dtype: DType, shape: readonly Dim[], value?: string): void {
    if (value !== undefined && value !== name) this.node('Identity', [value], {}, { outputs: [name] });
    this.#outputs.push(valueInfo(name, dtype, shape));
  }

  /** Adds a weight or constant tensor; returns its (unique) name. */
  initializer(hint: string, data: TensorData, dims: readonly number[]): string {
    const name = this.uniqueName(hint);
    this.#initializers.push(tensorMessage(name, data, dims));
    return name;
  }

  /** An int64 vector constant, the type shape-like inputs (Reshape, Slice, Unsqueeze) take. */
  int64s(hint: string, values: readonly number[]): string {
    return this.initializer(
      hint,
      BigInt64Array.from(values, (v) => BigInt(v)),
      [values.length],
    );
  }

  /** A float32 scalar (rank 0) constant. */
  scalar(hint: string, value: number): string {
    return this.initializer(hint, new Float32Array([value]), []);
  }

  /**
   * Adds a node. `outputs` is a count of fresh output names (default 1) or the
   * exact names to use. Returns the output names. Pass `''` for an omitted
   * optional input.
   */
  node(
    op: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, AttributeValue>> = {},
    options: {
      readonly outputs?: number | readonly string[];
      readonly name?: string;
      readonly domain?: string;
    } = {},
  ): string[] {
    const nodeName = this.uniqueName(options.name ?? op);
    const wanted = options.outputs ?? 1;
    const outputs =
      typeof wanted === 'number'
        ? Array.from({ length: wanted }, (_, i) => this.uniqueName(`${nodeName}_out${i}`))
        : wanted.map((n) => this.#claim(n));
    this.#nodes.push({
      name: nodeName,
      opType: op,
      domain: options.domain ?? '',
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(attributes).map(([k, v]) => attributeMessage(k, v)),
    });
    return outputs;
  }

  /** {@link node} for the common single-output case; returns the output name. */
  op(
    op: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, AttributeValue>> = {},
    name?: string,
  ): string {
    return this.node(op, inputs, attributes, { name })[0];
  }

  /** The model as a plain protobufjs object, with the given initializer messages. */
  #toModel(initializers: TensorMessage[]): ModelMessage {
    return {
      irVersion: this.#options.irVersion ?? 8,
      producerName: this.#options.producerName ?? 'giraffe',
      producerVersion: '1',
      ...(this.#options.docString !== undefined ? { docString: this.#options.docString } : {}),
      opsetImport: [{ domain: '', version: this.#options.opset ?? 17 }],
      graph: {
        name: this.#name,
        node: this.#nodes,
        initializer: initializers,
        input: this.#inputs,
        output: this.#outputs,
      },
    };
  }

  /** The serialised model with every initializer inline. */
  toBytes(): Uint8Array {
    return encodeModel(this.#toModel(this.#initializers));
  }

  /**
   * Writes the model to `file`. With `externalData`, large initializers go to
   * that file beside it as raw little-endian bytes, each tensor pointing at it
   * through `external_data` (`location`, `offset`, `length`) and
   * `data_location = EXTERNAL` — the layout real exports use.
   */
  async save(file: string, options: SaveOptions = {}): Promise<void> {
    if (options.externalData === undefined) {
      await fsp.writeFile(file, this.toBytes());
      return;
    }
    const location = options.externalData;
    const threshold = options.sizeThreshold ?? 1024;
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const initializers = this.#initializers.map((t): TensorMessage => {
      const raw = t.rawData!;
      if (raw.byteLength < threshold) return t;
      const padding = (EXTERNAL_ALIGNMENT - (offset % EXTERNAL_ALIGNMENT)) % EXTERNAL_ALIGNMENT;
      if (padding > 0) chunks.push(new Uint8Array(padding));
      offset += padding;
      chunks.push(raw);
      const entry: TensorMessage = {
        name: t.name,
        dims: t.dims,
        dataType: t.dataType,
        dataLocation: DATA_LOCATION_EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(raw.byteLength) },
        ],
      };
      offset += raw.byteLength;
      return entry;
    });
    await fsp.writeFile(path.join(path.dirname(file), location), Buffer.concat(chunks));
    await fsp.writeFile(file, encodeModel(this.#toModel(initializers)));
  }
}

function encodeModel(model: ModelMessage): Uint8Array {
  return onnxTypes.ModelProto.encode(onnxTypes.ModelProto.fromObject(model)).finish();
}
