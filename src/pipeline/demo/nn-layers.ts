import { OnnxGraphBuilder, TensorDataType, float, toFloat16 } from './onnx';
import type { SeededRandom } from './seeded-random';

/** Storage precision of a generated network's weights and float inputs/outputs. */
export type Precision = 'fp32' | 'fp16';

const FLOAT = TensorDataType.float32;
const FLOAT16 = TensorDataType.float16;

/** The largest divisor of `channels` not above `max`: GroupNorm's group count at small widths. */
export function groupsFor(channels: number, max = 8): number {
  for (let g = Math.min(max, channels); g > 1; g--) if (channels % g === 0) return g;
  return 1;
}

/**
 * Network layers on top of {@link OnnxGraphBuilder}, shaped like the
 * diffusers/transformers modules they stand for, with random weights from a
 * seeded PRNG (std = gain/√fan-in, so activations stay near unit scale).
 * Arithmetic is float32 throughout; in fp16 mode weights are stored as
 * float16 and cast up, which is how we keep onnxruntime's CPU kernels
 * (mostly float32-only) usable for fp16 fixtures.
 */
export class LayerBuilder {
  constructor(
    readonly g: OnnxGraphBuilder,
    readonly rng: SeededRandom,
    readonly precision: Precision,
  ) {}

  /** A weight tensor, stored in the builder's precision, read as float32. */
  weight(hint: string, values: Float32Array, dims: readonly number[]): string {
    if (this.precision === 'fp32') return this.g.initializer(hint, values, dims);
    return this.g.op('Cast', [this.g.initializer(hint, toFloat16(values), dims)], { to: FLOAT });
  }

  /** A random normal weight. */
  random(hint: string, dims: readonly number[], std: number): string {
    return this.weight(
      hint,
      this.rng.normals(
        dims.reduce((a, b) => a * b, 1),
        std,
      ),
      dims,
    );
  }

  /** A float32 graph input of the builder's precision (cast up in fp16 mode). */
  floatInput(name: string, shape: readonly (number | string)[]): string {
    const x = this.g.input(name, this.precision === 'fp16' ? 'float16' : 'float32', shape);
    return this.precision === 'fp16' ? this.g.op('Cast', [x], { to: FLOAT }) : x;
  }

  /** Declares a float graph output of the builder's precision from a float32 value. */
  floatOutput(name: string, shape: readonly (number | string)[], value: string): void {
    const fp16 = this.precision === 'fp16';
    this.g.output(
      name,
      fp16 ? 'float16' : 'float32',
      shape,
      fp16 ? this.g.op('Cast', [value], { to: FLOAT16 }) : value,
    );
  }

  /** x·W + b over the last axis. */
  linear(x: string, inFeatures: number, outFeatures: number, hint: string, gain = 1): string {
    const w = this.random(`${hint}.weight`, [inFeatures, outFeatures], gain / Math.sqrt(inFeatures));
    const b = this.random(`${hint}.bias`, [outFeatures], 0.02);
    return this.g.op('Add', [this.g.op('MatMul', [x, w]), b]);
  }

  /** 2-D convolution with "same" padding for odd kernels. */
  conv(
    x: string,
    cin: number,
    cout: number,
    kernel: number,
    hint: string,
    options: { stride?: number; gain?: number } = {},
  ): string {
    const fanIn = cin * kernel * kernel;
    const w = this.random(
      `${hint}.weight`,
      [cout, cin, kernel, kernel],
      (options.gain ?? 1) / Math.sqrt(fanIn),
    );
    const b = this.random(`${hint}.bias`, [cout], 0.02);
    const pad = Math.floor(kernel / 2);
    return this.g.op('Conv', [x, w, b], {
      kernel_shape: [kernel, kernel],
      pads: [pad, pad, pad, pad],
      strides: [options.stride ?? 1, options.stride ?? 1],
    });
  }

  /** x·sigmoid(x). */
  silu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
  }

  /** CLIP's quick GELU, x·sigmoid(1.702x). */
  quickGelu(x: string): string {
    return this.g.op('Mul', [
      x,
      this.g.op('Sigmoid', [this.g.op('Mul', [x, this.g.scalar('gelu_scale', 1.702)])]),
    ]);
  }

  /** Exact GELU, ½x(1 + erf(x/√2)) (opset 17 has no Gelu operator). */
  gelu(x: string): string {
    const erf = this.g.op('Erf', [this.g.op('Mul', [x, this.g.scalar('inv_sqrt2', Math.SQRT1_2)])]);
    return this.g.op('Mul', [
      this.g.op('Mul', [x, this.g.scalar('half', 0.5)]),
      this.g.op('Add', [erf, this.g.scalar('one', 1)]),
    ]);
  }

  /**
   * GroupNorm on [B, C, H, W]: opset 17 has no GroupNormalization, so fold
   * the groups into InstanceNormalization's channel axis ([B, G, C/G·H·W]),
   * then apply the per-channel affine transform.
   */
  groupNorm(x: string, channels: number, hint: string): string {
    const groups = groupsFor(channels);
    const grouped = this.g.op('Reshape', [x, this.g.int64s(`${hint}.grouped_shape`, [0, groups, -1])]);
    const normed = this.g.op(
      'InstanceNormalization',
      [
        grouped,
        this.g.initializer(`${hint}.unit_scale`, new Float32Array(groups).fill(1), [groups]),
        this.g.initializer(`${hint}.zero_bias`, new Float32Array(groups), [groups]),
      ],
      { epsilon: float(1e-5) },
    );
    const restored = this.g.op('Reshape', [normed, this.g.op('Shape', [x])]);
    const gamma = this.weight(
      `${hint}.weight`,
      Float32Array.from(this.rng.normals(channels, 0.05), (v) => 1 + v),
      [channels, 1, 1],
    );
    const beta = this.random(`${hint}.bias`, [channels, 1, 1], 0.05);
    return this.g.op('Add', [this.g.op('Mul', [restored, gamma]), beta]);
  }

  /** LayerNorm over the last axis (opset 17's LayerNormalization). */
  layerNorm(x: string, width: number, hint: string): string {
    const gamma = this.weight(
      `${hint}.weight`,
      Float32Array.from(this.rng.normals(width, 0.05), (v) => 1 + v),
      [width],
    );
    const beta = this.random(`${hint}.bias`, [width], 0.05);
    return this.g.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: float(1e-5) });
  }

  /**
   * Multi-head attention: queries from `x` [B, N, width], keys and values from
   * `context` [B, M, contextWidth] (pass `x` itself for self-attention);
   * softmax(QKᵀ/√d + mask)·V, heads merged, output projection.
   */
  attention(
    x: string,
    context: string,
    width: number,
    contextWidth: number,
    heads: number,
    hint: string,
    mask?: string,
  ): string {
    const headDim = width / heads;
    const split = (t: string, perm: number[]): string =>
      this.g.op(
        'Transpose',
        [this.g.op('Reshape', [t, this.g.int64s(`${hint}.heads_shape`, [0, 0, heads, headDim])])],
        { perm },
      );
    const q = split(
      this.g.op('MatMul', [x, this.random(`${hint}.to_q`, [width, width], 1 / Math.sqrt(width))]),
      [0, 2, 1, 3],
    );
    const kT = split(
      this.g.op('MatMul', [
        context,
        this.random(`${hint}.to_k`, [contextWidth, width], 1 / Math.sqrt(contextWidth)),
      ]),
      [0, 2, 3, 1],
    );
    const v = split(
      this.g.op('MatMul', [
        context,
        this.random(`${hint}.to_v`, [contextWidth, width], 1 / Math.sqrt(contextWidth)),
      ]),
      [0, 2, 1, 3],
    );
    let scores = this.g.op('Mul', [
      this.g.op('MatMul', [q, kT]),
      this.g.scalar(`${hint}.scale`, 1 / Math.sqrt(headDim)),
    ]);
    if (mask !== undefined) scores = this.g.op('Add', [scores, mask]);
    const attended = this.g.op('MatMul', [this.g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = this.g.op('Reshape', [
      this.g.op('Transpose', [attended], { perm: [0, 2, 1, 3] }),
      this.g.int64s(`${hint}.merged_shape`, [0, 0, width]),
    ]);
    return this.linear(merged, width, width, `${hint}.to_out`);
  }

  /**
   * ResNet block: GroupNorm → SiLU → conv3×3, plus the projected time
   * embedding, GroupNorm → SiLU → conv3×3, plus the (1×1-projected) input.
   */
  resBlock(
    x: string,
    cin: number,
    cout: number,
    hint: string,
    temb?: { value: string; width: number },
  ): string {
    let h = this.conv(this.silu(this.groupNorm(x, cin, `${hint}.norm1`)), cin, cout, 3, `${hint}.conv1`);
    if (temb !== undefined) {
      const projected = this.linear(this.silu(temb.value), temb.width, cout, `${hint}.time_emb_proj`);
      h = this.g.op('Add', [
        h,
        this.g.op('Unsqueeze', [projected, this.g.int64s(`${hint}.hw_axes`, [2, 3])]),
      ]);
    }
    h = this.conv(this.silu(this.groupNorm(h, cout, `${hint}.norm2`)), cout, cout, 3, `${hint}.conv2`, {
      gain: 0.5,
    });
    const skip = cin === cout ? x : this.conv(x, cin, cout, 1, `${hint}.conv_shortcut`);
    return this.g.op('Add', [h, skip]);
  }

  /** Nearest-neighbour resize of [B, C, H, W] to the spatial size of `like`. */
  upsampleLike(x: string, like: string): string {
    const sizes = this.g.op(
      'Concat',
      [this.g.op('Shape', [x], { end: 2 }), this.g.op('Shape', [like], { start: 2 })],
      { axis: 0 },
    );
    return this.g.op('Resize', [x, '', '', sizes], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
  }

  /** Nearest-neighbour ×2 resize of [B, C, H, W]. */
  upsample2x(x: string): string {
    const scales = this.g.initializer('upsample_scales', new Float32Array([1, 1, 2, 2]), [4]);
    return this.g.op('Resize', [x, '', scales], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
  }
}
