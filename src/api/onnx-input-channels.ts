import * as fs from 'node:fs/promises';

/*
 * Reads one graph input's shape from an ONNX file without loading the model:
 * the API process never loads onnxruntime, and a U-Net file may hold
 * gigabytes of inline weights. It walks the protobuf wire format with
 * positioned reads, skipping every length-delimited field it does not need
 * (initializers, nodes) by its length, so it reads a few kilobytes whatever
 * the file's size. Field numbers from onnx/onnx.proto: ModelProto.graph = 7;
 * GraphProto.input = 11; ValueInfoProto.name = 1, .type = 2;
 * TypeProto.tensor_type = 1; Tensor.shape = 2; TensorShapeProto.dim = 1;
 * Dimension.dim_value = 1 (int64), .dim_param = 2 (string).
 */

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** A positioned reader over a file handle. */
class FileCursor {
  constructor(
    readonly file: fs.FileHandle,
    public pos: number,
  ) {}

  async varint(): Promise<number> {
    const buf = Buffer.alloc(10);
    const { bytesRead } = await this.file.read(buf, 0, 10, this.pos);
    let value = 0;
    let scale = 1;
    for (let i = 0; i < bytesRead; i++) {
      const byte = buf[i];
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) {
        this.pos += i + 1;
        return value;
      }
    }
    throw new Error('truncated varint');
  }

  async bytes(length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await this.file.read(buf, 0, length, this.pos);
    if (bytesRead !== length) throw new Error('truncated field');
    this.pos += length;
    return buf;
  }

  async skip(wire: number): Promise<void> {
    if (wire === WIRE_VARINT) await this.varint();
    else if (wire === WIRE_I64) this.pos += 8;
    else if (wire === WIRE_I32) this.pos += 4;
    else if (wire === WIRE_LEN) {
      // Not `this.pos += await …`: that reads pos before varint() moves it.
      const length = await this.varint();
      this.pos += length;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** Walks the fields of a message in a buffer (small messages: an input's ValueInfoProto). */
function* fields(buf: Buffer): Generator<{ field: number; wire: number; value: number | Buffer }> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[pos++];
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === WIRE_VARINT) yield { field, wire, value: varint() };
    else if (wire === WIRE_LEN) {
      const length = varint();
      yield { field, wire, value: buf.subarray(pos, pos + length) };
      pos += length;
    } else if (wire === WIRE_I64) pos += 8;
    else if (wire === WIRE_I32) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function sub(buf: Buffer, wanted: number): Buffer[] {
  const out: Buffer[] = [];
  for (const f of fields(buf)) if (f.field === wanted && Buffer.isBuffer(f.value)) out.push(f.value);
  return out;
}

/** Dimensions of a ValueInfoProto: numbers, or the symbolic name of a free dimension. */
function dimsOf(valueInfo: Buffer): { name: string; dims: (number | string)[] } {
  let name = '';
  const dims: (number | string)[] = [];
  for (const f of fields(valueInfo)) {
    if (f.field === 1 && Buffer.isBuffer(f.value)) name = f.value.toString('utf8');
    if (f.field === 2 && Buffer.isBuffer(f.value)) {
      for (const tensor of sub(f.value, 1))
        for (const shape of sub(tensor, 2))
          for (const dim of sub(shape, 1)) {
            let d: number | string = '?';
            for (const g of fields(dim)) {
              if (g.field === 1 && typeof g.value === 'number') d = g.value;
              if (g.field === 2 && Buffer.isBuffer(g.value)) d = g.value.toString('utf8');
            }
            dims.push(d);
          }
    }
  }
  return { name, dims };
}

/** Messages larger than this are skipped, not read: no sane input or node is this big. */
const MAX_SMALL_MESSAGE_BYTES = 1024 * 1024;

interface NodeInfo {
  readonly op: string;
  readonly inputs: string[];
  readonly outputs: string[];
}

function nodeOf(buf: Buffer): NodeInfo {
  const node: NodeInfo = { op: '', inputs: [], outputs: [] };
  for (const f of fields(buf)) {
    if (!Buffer.isBuffer(f.value)) continue;
    if (f.field === 1) node.inputs.push(f.value.toString('utf8'));
    else if (f.field === 2) node.outputs.push(f.value.toString('utf8'));
    else if (f.field === 4) (node as { op: string }).op = f.value.toString('utf8');
  }
  return node;
}

/** An initializer's name and dims (TensorProto.dims = 1, .name = 8), its data skipped unread. */
async function initializerOf(cursor: FileCursor, end: number): Promise<{ name: string; dims: number[] }> {
  let name = '';
  const dims: number[] = [];
  while (cursor.pos < end) {
    const tag = await cursor.varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 1 && wire === WIRE_VARINT) dims.push(await cursor.varint());
    else if (field === 1 && wire === WIRE_LEN) {
      const packed = new FileCursor(cursor.file, cursor.pos);
      const length = await cursor.varint();
      packed.pos = cursor.pos;
      cursor.pos += length;
      while (packed.pos < cursor.pos) dims.push(await packed.varint());
    } else if (field === 8 && wire === WIRE_LEN) {
      const length = await cursor.varint();
      name = (await cursor.bytes(length)).toString('utf8');
    } else await cursor.skip(wire);
  }
  return { name, dims };
}

/** What {@link readOnnxInputShape} and {@link readOnnxInputChannels} gather from a graph. */
interface GraphSummary {
  readonly inputs: Map<string, (number | string)[]>;
  readonly nodes: NodeInfo[];
  readonly initializers: Map<string, number[]>;
}

async function summarizeGraph(file: string): Promise<GraphSummary | undefined> {
  const handle = await fs.open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const top = new FileCursor(handle, 0);
    while (top.pos < size) {
      const tag = await top.varint();
      if (tag !== (7 << 3) + WIRE_LEN) {
        await top.skip(tag % 8);
        continue;
      }
      const graphLength = await top.varint();
      const graph = new FileCursor(handle, top.pos);
      const end = top.pos + graphLength;
      const summary: GraphSummary = { inputs: new Map(), nodes: [], initializers: new Map() };
      while (graph.pos < end) {
        const gtag = await graph.varint();
        const field = Math.floor(gtag / 8);
        if (gtag % 8 !== WIRE_LEN || (field !== 1 && field !== 5 && field !== 11)) {
          await graph.skip(gtag % 8);
          continue;
        }
        const length = await graph.varint();
        const messageEnd = graph.pos + length;
        if (field === 5) {
          const init = await initializerOf(new FileCursor(handle, graph.pos), messageEnd);
          summary.initializers.set(init.name, init.dims);
        } else if (length <= MAX_SMALL_MESSAGE_BYTES) {
          const buf = await new FileCursor(handle, graph.pos).bytes(length);
          if (field === 1) summary.nodes.push(nodeOf(buf));
          else {
            const info = dimsOf(buf);
            summary.inputs.set(info.name, info.dims);
          }
        }
        graph.pos = messageEnd;
      }
      return summary;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * The shape of graph input `inputName` in the ONNX file, or undefined when
 * the graph has no such input. Throws when the file is not ONNX protobuf.
 */
export async function readOnnxInputShape(
  file: string,
  inputName: string,
): Promise<(number | string)[] | undefined> {
  return (await summarizeGraph(file))?.inputs.get(inputName);
}

/** Ops that pass a tensor through unchanged in channel count on the way to the first convolution. */
const passThrough = new Set(['Cast', 'Identity']);

/**
 * The channel count (dimension 1) of graph input `inputName`: from its
 * declared shape, or, where the export left it symbolic (diffusers' convert
 * script names it `channels`), from the weight of the first convolution that
 * reads it (`conv_in`: [out, in, k, k]). Undefined when neither says.
 */
export async function readOnnxInputChannels(file: string, inputName: string): Promise<number | undefined> {
  const graph = await summarizeGraph(file);
  const dims = graph?.inputs.get(inputName);
  if (!graph || !dims) return undefined;
  if (typeof dims[1] === 'number') return dims[1];
  const names = new Set([inputName]);
  for (const node of graph.nodes) {
    if (!node.inputs.some((i) => names.has(i))) continue;
    if (passThrough.has(node.op)) for (const o of node.outputs) names.add(o);
    else if (node.op === 'Conv' && names.has(node.inputs[0])) {
      const weight = graph.initializers.get(node.inputs[1]);
      return weight && weight.length === 4 ? weight[1] : undefined;
    }
  }
  return undefined;
}
