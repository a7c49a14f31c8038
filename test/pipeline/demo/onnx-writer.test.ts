import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  OnnxGraphBuilder,
  float,
  float16BitsToNumber,
  tensor,
  float32ToFloat16Bits,
  fromFloat16,
  onnxTypes,
  toFloat16,
} from '../../../src/pipeline/demo/onnx';
import { makeTempDir, removeTempDir } from './demo-test-helpers';

describe('float16 conversion', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [-0, 0x8000],
    [65504, 0x7bff],
    [65520, 0x7c00], // halfway to 65536: ties to even, which overflows
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // halfway to the smallest subnormal: ties to even 0
    [3 * 2 ** -26, 0x0001],
    [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1 + 2^-10: even mantissa wins
    [1 + 3 * 2 ** -11, 0x3c02],
    [1 + 2 ** -11 + 2 ** -20, 0x3c01],
  ])('%p → %p', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('keeps NaN a NaN', () => {
    expect(Number.isNaN(float16BitsToNumber(float32ToFloat16Bits(NaN)))).toBe(true);
  });

  it('round-trips every finite float16 exactly', () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      if (float32ToFloat16Bits(float16BitsToNumber(bits)) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
  });

  it('converts arrays both ways', () => {
    expect(Array.from(fromFloat16(toFloat16([0.25, -3, 1000])))).toEqual([0.25, -3, 1000]);
  });
});

describe('OnnxGraphBuilder', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = makeTempDir('onnx-writer');
  });
  afterEach(() => removeTempDir(tmp));

  /** y = x·W + b, plus int64, int32 and float16 constants passed through to outputs. */
  function sampleGraph(): OnnxGraphBuilder {
    const g = new OnnxGraphBuilder('sample');
    const x = g.input('x', 'float32', ['batch', 4]);
    const w = g.initializer(
      'w',
      Float32Array.from({ length: 4 * 300 }, (_, i) => (i % 7) - 3),
      [4, 300],
    );
    const b = g.initializer('w', new Float32Array(300).fill(0.5), [300]);
    const y = g.op('LeakyRelu', [g.op('Add', [g.op('MatMul', [x, w]), b])], { alpha: float(0.25) });
    g.output('y', 'float32', ['batch', 300], y);
    g.output('i64', 'int64', [3], g.op('Identity', [g.int64s('ints', [-5, 0, 2 ** 40])]));
    g.output(
      'i32',
      'int32',
      [2],
      g.op('Identity', [g.initializer('int32_values', new Int32Array([7, -9]), [2])]),
    );
    g.output('constant', 'int32', [2], g.op('Constant', [], { value: tensor(new Int32Array([3, 4]), [2]) }));
    g.output(
      'half',
      'float16',
      [2],
      g.op('Identity', [g.initializer('half_values', toFloat16([1.5, -0.125]), [2])]),
    );
    return g;
  }

  async function run(model: string | Uint8Array): Promise<ort.InferenceSession.ReturnType> {
    const session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model)
        : await ort.InferenceSession.create(model);
    try {
      return await session.run({
        x: new ort.Tensor('float32', new Float32Array([1, 2, -1, 0, 0, 0, 0, 1]), [2, 4]),
      });
    } finally {
      await session.release();
    }
  }

  it('writes ir_version 8, opset 17 and unique names that onnxruntime loads', async () => {
    const g = sampleGraph();
    const bytes = g.toBytes();
    const model = onnxTypes.ModelProto.toObject(onnxTypes.ModelProto.decode(bytes), {
      longs: Number,
      defaults: false,
    }) as {
      irVersion: number;
      opsetImport: { domain?: string; version: number }[];
      graph: {
        initializer: { name: string }[];
        node: { name: string; opType: string; attribute?: { name: string; type: number; f?: number }[] }[];
      };
    };
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ version: 17 }]);
    const names = model.graph.initializer.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.slice(0, 2)).toEqual(['w', 'w_1']);
    const leaky = model.graph.node.find((n) => n.opType === 'LeakyRelu');
    expect(leaky?.attribute).toEqual([{ name: 'alpha', type: 1, f: 0.25 }]);

    const out = await run(bytes);
    expect(out.y.dims).toEqual([2, 300]);
    // Row 0: x = [1, 2, -1, 0] → Σ x_k·((k·300 + j) % 7 − 3) + 0.5.
    const expected = (j: number): number => {
      const v = [1, 2, -1, 0].reduce((acc, xk, k) => acc + xk * (((k * 300 + j) % 7) - 3), 0.5);
      return v > 0 ? v : 0.25 * v;
    };
    expect(Array.from((out.y.data as Float32Array).slice(0, 5))).toEqual([0, 1, 2, 3, 4].map(expected));
    expect(Array.from(out.i64.data as BigInt64Array)).toEqual([-5n, 0n, 2n ** 40n]);
    expect(Array.from(out.i32.data as Int32Array)).toEqual([7, -9]);
    expect(Array.from(out.constant.data as Int32Array)).toEqual([3, 4]);
    expect(out.half.type).toBe('float16');
    expect(Array.from(fromFloat16(out.half.data as Uint16Array))).toEqual([1.5, -0.125]);
  });

  it('refuses an int attribute that is not an integer and a reused input name', () => {
    const g = new OnnxGraphBuilder('bad');
    const x = g.input('x', 'float32', [1]);
    expect(() => g.op('LeakyRelu', [x], { alpha: 0.5 })).toThrow(/float\(\)/);
    expect(() => g.input('x', 'float32', [1])).toThrow(/already used/);
    expect(() => g.initializer('t', new Float32Array(3), [2, 2])).toThrow(/do not fill/);
  });

  it.each(['model.onnx_data', 'weights.pb'])(
    'moves large initializers to %s with offsets and lengths',
    async (location) => {
      const g = sampleGraph();
      const file = path.join(tmp, 'model.onnx');
      await g.save(file, { externalData: location });
      const data = fs.readFileSync(path.join(tmp, location));
      const model = onnxTypes.ModelProto.toObject(onnxTypes.ModelProto.decode(fs.readFileSync(file)), {
        longs: Number,
        defaults: false,
      }) as {
        graph: {
          initializer: {
            name: string;
            dataLocation?: number;
            rawData?: Uint8Array;
            externalData?: { key: string; value: string }[];
          }[];
        };
      };
      const external = model.graph.initializer.filter((t) => t.dataLocation === 1);
      expect(external.map((t) => t.name)).toEqual(['w', 'w_1']); // 4800 and 1200 bytes; the small ones stay inline
      for (const t of external) {
        expect(t.rawData).toBeUndefined();
        const entry = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
        expect(entry.location).toBe(location);
        const offset = Number(entry.offset);
        expect(offset % 64).toBe(0);
        expect(offset + Number(entry.length)).toBeLessThanOrEqual(data.length);
      }
      expect(fs.statSync(file).size).toBeLessThan(1024);
      const inline = await run(g.toBytes());
      const fromFile = await run(file);
      expect(Array.from(fromFile.y.data as Float32Array)).toEqual(Array.from(inline.y.data as Float32Array));
    },
  );
});
