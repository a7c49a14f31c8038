import * as fs from 'node:fs';

/**
 * Reads just enough of an ONNX file's protobuf to find how many channels the
 * first convolution on a graph input takes: the U-Net's `conv_in` weight is
 * [out, in, k, k], and `in` is 9 for an SD inpainting U-Net even when the
 * export leaves the `sample` input's channel dimension symbolic (as the
 * diffusers convert script does). Tensor data is skipped by seeking, never
 * read, so a 3 GB file with embedded weights costs a few thousand small reads.
 */

/** Positioned reads over a file, with a small read-ahead buffer. */
class FileReader {
  readonly #fd: number;
  readonly #buffer = Buffer.alloc(64 * 1024);
  #start = 0;
  #end = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  byte(pos: number): number {
    if (pos < this.#start || pos >= this.#end) {
      const n = fs.readSync(this.#fd, this.#buffer, 0, this.#buffer.length, pos);
      if (n <= 0) throw new RangeError('unexpected end of file');
      this.#start = pos;
      this.#end = pos + n;
    }
    return this.#buffer[pos - this.#start];
  }

  bytes(pos: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.byte(pos + i);
    return out;
  }
}

interface Field {
  readonly number: number;
  readonly wire: number;
  /** Varint value (wire 0), or the payload's length (wire 2). */
  readonly value: number;
  /** Where the payload starts (wire 2). */
  readonly at: number;
  /** Where the next field starts. */
  readonly next: number;
}

function varint(r: FileReader, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = r.byte(pos++);
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
    if (scale > 2 ** 63) throw new RangeError('varint too long');
  }
}

function* fields(r: FileReader, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const [tag, afterTag] = varint(r, pos);
    const number = Math.floor(tag / 8);
    const wire = tag & 7;
    let value = 0;
    let at = afterTag;
    let next: number;
    if (wire === 0) [value, next] = varint(r, afterTag);
    else if (wire === 1) next = afterTag + 8;
    else if (wire === 5) next = afterTag + 4;
    else if (wire === 2) {
      [value, at] = varint(r, afterTag);
      next = at + value;
    } else throw new RangeError(`unsupported protobuf wire type ${wire}`);
    yield { number, wire, value, at, next };
    pos = next;
  }
}

interface NodeInfo {
  readonly op: string;
  readonly inputs: string[];
  readonly outputs: string[];
}

function readNode(r: FileReader, f: Field): NodeInfo {
  const node: NodeInfo = { op: '', inputs: [], outputs: [] };
  for (const g of fields(r, f.at, f.next)) {
    if (g.wire !== 2) continue;
    const text = (): string => r.bytes(g.at, g.value).toString('utf8');
    if (g.number === 1) node.inputs.push(text());
    else if (g.number === 2) node.outputs.push(text());
    else if (g.number === 4) (node as { op: string }).op = text();
  }
  return node;
}

function readTensorHeader(r: FileReader, f: Field): { name: string; dims: number[] } {
  let name = '';
  const dims: number[] = [];
  for (const g of fields(r, f.at, f.next)) {
    if (g.number === 1 && g.wire === 0) dims.push(g.value);
    else if (g.number === 1 && g.wire === 2) {
      for (let p = g.at; p < g.next;) {
        const [v, after] = varint(r, p);
        dims.push(v);
        p = after;
      }
    } else if (g.number === 8 && g.wire === 2) name = r.bytes(g.at, g.value).toString('utf8');
  }
  return { name, dims };
}

/** Ops that pass the input through unchanged in shape before the first convolution. */
const PASS_THROUGH = new Set(['Cast', 'Identity']);

/**
 * Input channels of the first Conv fed (directly or through a Cast) by the
 * graph input `input`, read from its weight initializer; undefined when the
 * file does not have that shape (no such Conv, weight not an initializer, or
 * not parseable).
 */
export function convInputChannels(file: string, input: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const r = new FileReader(fd);
    const size = fs.fstatSync(fd).size;
    let graph: Field | undefined;
    for (const f of fields(r, 0, size)) if (f.number === 7 && f.wire === 2) graph = f;
    if (!graph) return undefined;
    const fed = new Set([input]);
    let weight: string | undefined;
    const initializers: Field[] = [];
    for (const f of fields(r, graph.at, graph.next)) {
      if (f.wire !== 2) continue;
      if (f.number === 5) initializers.push(f);
      else if (f.number === 1 && weight === undefined) {
        const node = readNode(r, f);
        if (!fed.has(node.inputs[0] ?? '')) continue;
        if (node.op === 'Conv') weight = node.inputs[1];
        else if (PASS_THROUGH.has(node.op)) node.outputs.forEach((o) => fed.add(o));
      }
    }
    if (weight === undefined) return undefined;
    for (const f of initializers) {
      const t = readTensorHeader(r, f);
      if (t.name === weight) return t.dims.length === 4 ? t.dims[1] : undefined;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
