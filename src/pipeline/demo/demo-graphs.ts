import { OnnxGraphBuilder } from './onnx';
import { SeededRandom } from './seeded-random';
import { sd15Sigmas } from './sd-schedule';

/**
 * The demo model's three graphs. The U-Net is not learned: it returns the
 * exact ε for a prompt-dependent target latent T(c), so every scheduler
 * converges to T(c) (w·T(c) under guidance) and the VAE paints it.
 */

/** CLIP's context length. */
export const SEQUENCE_LENGTH = 77;
/** Width of the demo text embeddings. */
export const DEMO_HIDDEN_SIZE = 32;
/** Side of the low-resolution latent grid T(c) is drawn on before it is resized to the sample. */
const GRID = 8;
/** RMS of the decoded target (before tanh) per unit of guidance: w = 7.5 lands near 0.6, vivid but not clipped flat, w = 1 still tints. */
const TARGET_RGB_RMS = 0.08;
/** Side of the window (latent pixels, odd) that sets the demo U-Net's "coarse" noise. */
const NOISE_POOL = 17;

/**
 * SD 1.x latent → RGB factors (rows R, G, B; columns = latent channels), the
 * linear approximation ComfyUI uses for previews. The demo VAE decodes with
 * them, so a linear preview of the demo looks like its decode.
 */
const LATENT_TO_RGB = [
  [0.3512, 0.325, -0.2829, -0.212],
  [0.2297, 0.4974, 0.1762, -0.2616],
  [0.3227, 0.235, 0.2721, -0.7177],
] as const;

/** What the text encoder and the U-Net share: the weights the U-Net's target is measured against. */
export interface DemoWeights {
  readonly vocabSize: number;
  readonly endOfTextId: number;
  readonly startOfTextId: number;
  /** [vocab, D] token embeddings. */
  readonly tokenEmbedding: Float32Array;
  /** [77, D] position embeddings. */
  readonly positionEmbedding: Float32Array;
}

/** Deterministic demo embeddings. */
export function demoWeights(vocabSize: number, startOfTextId: number, endOfTextId: number): DemoWeights {
  const rng = new SeededRandom(0x6a1af);
  const tokenEmbedding = rng.normals(vocabSize * DEMO_HIDDEN_SIZE, 1);
  // A zero end-of-text row: otherwise every prompt's difference from the
  // empty prompt shares −E[eot] and all pictures look alike.
  tokenEmbedding.fill(0, endOfTextId * DEMO_HIDDEN_SIZE, (endOfTextId + 1) * DEMO_HIDDEN_SIZE);
  return {
    vocabSize,
    startOfTextId,
    endOfTextId,
    tokenEmbedding,
    positionEmbedding: rng.normals(SEQUENCE_LENGTH * DEMO_HIDDEN_SIZE, 0.5),
  };
}

/**
 * text_encoder: `input_ids` int32 [batch, 77] → `last_hidden_state` [batch, 77, D]
 * = token embedding + position embedding, and `pooler_output` [batch, D] = the
 * hidden state at the first end-of-text token (CLIP pools there too).
 */
export function buildDemoTextEncoder(w: DemoWeights): OnnxGraphBuilder {
  const D = DEMO_HIDDEN_SIZE;
  const g = new OnnxGraphBuilder('demo_text_encoder', { docString: 'giraffe demo text encoder' });
  const ids = g.input('input_ids', 'int32', ['batch', SEQUENCE_LENGTH]);
  const tok = g.initializer('token_embedding', w.tokenEmbedding, [w.vocabSize, D]);
  const pos = g.initializer('position_embedding', w.positionEmbedding, [SEQUENCE_LENGTH, D]);
  // A plain float32 add: the U-Net subtracts the same sum computed in JS and gets exact zeros.
  const hidden = g.op('Add', [g.op('Gather', [tok, ids], { axis: 0 }), pos]);
  // The end-of-text token has the largest id, so ArgMax finds its first position.
  const eot = g.op('ArgMax', [g.op('Cast', [ids], { to: 1 })], { axis: 1, keepdims: 1 });
  const pooled = g.op('GatherND', [hidden, eot], { batch_dims: 1 });
  g.output('last_hidden_state', 'float32', ['batch', SEQUENCE_LENGTH, D], hidden);
  g.output('pooler_output', 'float32', ['batch', D], pooled);
  return g;
}

/** Hidden states of the empty prompt (`<|startoftext|>` then end-of-text padding), exactly as float32 adds give them. */
function emptyPromptHidden(w: DemoWeights): Float32Array {
  const D = DEMO_HIDDEN_SIZE;
  const out = new Float32Array(SEQUENCE_LENGTH * D);
  for (let i = 0; i < SEQUENCE_LENGTH; i++) {
    const id = i === 0 ? w.startOfTextId : w.endOfTextId;
    for (let k = 0; k < D; k++) {
      out[i * D + k] = Math.fround(w.tokenEmbedding[id * D + k] + w.positionEmbedding[i * D + k]);
    }
  }
  return out;
}

/** Inverse of a 3×3 matrix (row-major), by cofactors. */
function invert3(m: readonly number[][]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

/** The latent vector of least norm that {@link LATENT_TO_RGB} maps to `rgb` (Moore–Penrose pseudo-inverse). */
function latentForRgb(rgb: readonly number[]): number[] {
  const F = LATENT_TO_RGB;
  const ffT = F.map((r) => F.map((s) => r.reduce((acc, v, k) => acc + v * s[k], 0)));
  const inv = invert3(ffT);
  const y = inv.map((row) => row.reduce((acc, v, k) => acc + v * rgb[k], 0));
  return [0, 1, 2, 3].map((ch) => F.reduce((acc, row, r) => acc + row[ch] * y[r], 0));
}

/** A saturated colour of the given hue, each channel in [−1, 1]. */
function hueToRgb(hue: number): number[] {
  return [5, 3, 1].map((offset) => {
    const k = (offset + hue * 6) % 6;
    return 1 - 2 * Math.max(0, Math.min(k, 4 - k, 1));
  });
}

/**
 * [D, 4·8·8]: each embedding direction paints a coloured blob (or, one in
 * four, a colour gradient) on the 8×8 latent grid, scaled so that
 * unit-variance coefficients give {@link TARGET_RGB_RMS} after decoding.
 */
function targetBasis(): Float32Array {
  const D = DEMO_HIDDEN_SIZE;
  const cells = GRID * GRID;
  const rng = new SeededRandom(0xb10b5);
  const basis = new Float64Array(D * 4 * cells);
  let rgbEnergy = 0;
  for (let d = 0; d < D; d++) {
    const rgb = hueToRgb(rng.next());
    const latent = latentForRgb(rgb);
    const gradient = d % 4 === 3;
    const cy = 1 + 6 * rng.next();
    const cx = 1 + 6 * rng.next();
    const radius = 0.8 + 1.2 * rng.next();
    const angle = 2 * Math.PI * rng.next();
    for (let y = 0; y < GRID; y++) {
      for (let x = 0; x < GRID; x++) {
        const py = y + 0.5;
        const px = x + 0.5;
        const s = gradient
          ? ((px - GRID / 2) * Math.cos(angle) + (py - GRID / 2) * Math.sin(angle)) / (GRID / 2)
          : Math.exp(-((py - cy) ** 2 + (px - cx) ** 2) / (2 * radius * radius));
        for (let ch = 0; ch < 4; ch++) basis[((d * 4 + ch) * GRID + y) * GRID + x] = latent[ch] * s;
        rgbEnergy += s * s * rgb.reduce((acc, v) => acc + v * v, 0);
      }
    }
  }
  const scale = TARGET_RGB_RMS / Math.sqrt(rgbEnergy / (3 * cells));
  return Float32Array.from(basis, (v) => v * scale);
}

/**
 * unet: `sample` [batch, 4, h, w], `timestep` float32 [batch],
 * `encoder_hidden_states` [batch, 77, D] → `out_sample` = the exact ε for the
 * target T(c):
 *
 *   ε = (sample − √ᾱ·T) / √(1 − ᾱ) = (sample·√(1 + σ²) − T) / σ,  ᾱ = 1/(1 + σ²)
 *
 * σ(t) is the SD 1.5 σ table interpolated linearly between integer steps, as
 * diffusers' Euler schedulers do for fractional timesteps. T(c) is zero for
 * the empty prompt: the difference between the hidden states and the empty
 * prompt's, position-weighted, summed and RMS-normalised, selects a mix of
 * coloured blobs on an 8×8 grid that is resized (linearly) to h×w.
 */
/**
 * How sure the demo U-Net is: its ε is the exact one less 1 − 1/(1 + (σ/σ_c)²)
 * of the exact one's coarse part. Like a real model it sees mostly noise at high σ, so its
 * predicted x₀ (what previews show) starts noisy and sharpens into the
 * picture, and it is exact as σ → 0, so the sigma schedulers still land on
 * the target. The `exact` variant (ε exact at every σ) is the tests' oracle
 * for the schedulers. The doubt covers only the coarse part of ε (its mean
 * over a window): the noise a run keeps is then soft, seed-dependent shading;
 * doubt of the fine part left DDIM, PNDM and LCM pictures grainy and blocky.
 */
export const DEMO_SIGMA_CONFIDENT = 2;

export function buildDemoUnet(
  w: DemoWeights,
  options: { readonly exact?: boolean; readonly inpaint?: boolean } = {},
): OnnxGraphBuilder {
  const D = DEMO_HIDDEN_SIZE;
  const g = new OnnxGraphBuilder('demo_unet', {
    docString: options.inpaint
      ? 'giraffe demo inpainting U-Net: exact epsilon for the masked image outside the mask, a prompt-dependent target inside'
      : 'giraffe demo U-Net: exact epsilon for a prompt-dependent target',
  });
  const input = g.input('sample', 'float32', ['batch', options.inpaint ? 9 : 4, 'height', 'width']);
  // An inpainting U-Net's sample is [latents, mask, masked-image latents] on the channel axis.
  const channels = (from: number, to: number, name: string): string =>
    g.op('Slice', [
      input,
      g.int64s(`${name}_start`, [from]),
      g.int64s(`${name}_end`, [to]),
      g.int64s(`${name}_axis`, [1]),
    ]);
  const sample = options.inpaint ? channels(0, 4, 'latents') : input;
  const timestep = g.input('timestep', 'float32', ['batch']);
  const context = g.input('encoder_hidden_states', 'float32', ['batch', SEQUENCE_LENGTH, D]);

  // Earlier tokens weigh more, so word order changes the picture a little.
  const weights = Float32Array.from({ length: SEQUENCE_LENGTH }, (_, i) => 1 / (1 + i / 16));
  const delta = g.op('Sub', [
    context,
    g.initializer('empty_prompt_hidden', emptyPromptHidden(w), [1, SEQUENCE_LENGTH, D]),
  ]);
  const weighted = g.op('Mul', [delta, g.initializer('position_weight', weights, [1, SEQUENCE_LENGTH, 1])]);
  const pooled = g.op('ReduceSum', [weighted, g.int64s('axis_tokens', [1])], { keepdims: 0 });
  // RMS normalisation with a floor far below any real prompt's, so the empty prompt stays exactly 0.
  const kappa = 0.05 * weights[1] * Math.SQRT2;
  const meanSquare = g.op('ReduceMean', [g.op('Mul', [pooled, pooled])], { axes: [1], keepdims: 1 });
  const norm = g.op('Sqrt', [g.op('Add', [meanSquare, g.scalar('kappa_squared', kappa * kappa)])]);
  const coefficients = g.op('Div', [pooled, norm]);
  const grid = g.op('Reshape', [
    g.op('MatMul', [coefficients, g.initializer('target_basis', targetBasis(), [D, 4 * GRID * GRID])]),
    g.int64s('grid_shape', [-1, 4, GRID, GRID]),
  ]);
  const sizes = g.op('Concat', [g.op('Shape', [grid], { end: 2 }), g.op('Shape', [sample], { start: 2 })], {
    axis: 0,
  });
  const promptTarget = g.op('Resize', [grid, '', '', sizes], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
  // Inpainting: the hole (mask 1) goes to the prompt's picture, the rest to the masked image's latents.
  let target = promptTarget;
  if (options.inpaint) {
    const mask = channels(4, 5, 'mask');
    const keep = g.op('Sub', [g.scalar('mask_one', 1), mask]);
    target = g.op('Add', [g.op('Mul', [mask, promptTarget]), g.op('Mul', [keep, channels(5, 9, 'masked')])]);
  }

  // σ(t) by linear interpolation of the table; integer t reads the table exactly.
  const table = g.initializer('sigmas', Float32Array.from(sd15Sigmas()), [1000]);
  const t = g.op('Clip', [timestep, g.scalar('t_min', 0), g.scalar('t_max', 999)]);
  const lo = g.op('Floor', [t]);
  const sigmaLo = g.op('Gather', [table, g.op('Cast', [lo], { to: 7 })], { axis: 0 });
  const sigmaHi = g.op('Gather', [table, g.op('Cast', [g.op('Ceil', [t])], { to: 7 })], { axis: 0 });
  const frac = g.op('Sub', [t, lo]);
  const sigmaFlat = g.op('Add', [sigmaLo, g.op('Mul', [frac, g.op('Sub', [sigmaHi, sigmaLo])])]);
  const sigma = g.op('Reshape', [sigmaFlat, g.int64s('sigma_shape', [-1, 1, 1, 1])]);
  const inputScale = g.op('Sqrt', [g.op('Add', [g.op('Mul', [sigma, sigma]), g.scalar('one', 1)])]);
  const exact = g.op('Div', [g.op('Sub', [g.op('Mul', [sample, inputScale]), target]), sigma]);
  let eps = exact;
  if (!options.exact) {
    const ratio = g.op('Div', [sigma, g.scalar('sigma_confident', DEMO_SIGMA_CONFIDENT)]);
    const confidence = g.op('Reciprocal', [g.op('Add', [g.op('Mul', [ratio, ratio]), g.scalar('one_c', 1)])]);
    // Unsure of the coarse part of the noise only: the fine part (the latent-pixel grain) is
    // predicted exactly, so whatever noise a run keeps is smooth — seed-dependent shading, not
    // the 8-pixel blocks the decoder would make of grain.
    const coarse = g.op('AveragePool', [exact], {
      kernel_shape: [NOISE_POOL, NOISE_POOL],
      pads: Array(4).fill((NOISE_POOL - 1) / 2),
      count_include_pad: 0,
    });
    eps = g.op('Sub', [exact, g.op('Mul', [coarse, g.op('Sub', [g.scalar('one_u', 1), confidence])])]);
  }
  g.output('out_sample', 'float32', ['batch', 4, 'height', 'width'], eps);
  return g;
}

/**
 * vae_decoder: `latent_sample` [batch, 4, h, w] (latents / 0.18215) →
 * `sample` [batch, 3, 8h, 8w] in (−1, 1): undo the scaling, map the four
 * latent channels to RGB with {@link LATENT_TO_RGB}, squash with tanh so
 * strong guidance saturates instead of wrapping, upsample ×8 linearly.
 */
export function buildDemoVaeDecoder(): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder('demo_vae_decoder', { docString: 'giraffe demo VAE decoder' });
  const latent = g.input('latent_sample', 'float32', ['batch', 4, 'height', 'width']);
  const unscaled = g.op('Mul', [latent, g.scalar('scaling_factor', 0.18215)]);
  const matrix = g.initializer('latent_to_rgb', Float32Array.from(LATENT_TO_RGB.flat()), [3, 4, 1, 1]);
  const rgb = g.op('Tanh', [
    g.op('Conv', [unscaled, matrix, g.initializer('rgb_bias', new Float32Array(3), [3])]),
  ]);
  const scales = g.initializer('upsample_scales', new Float32Array([1, 1, 8, 8]), [4]);
  const image = g.op('Resize', [rgb, '', scales], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
  g.output('sample', 'float32', ['batch', 3, 'image_height', 'image_width'], image);
  return g;
}

/** The Moore–Penrose inverse Mᵀ(MMᵀ)⁻¹ of {@link LATENT_TO_RGB}: RGB → the smallest latent that decodes to it. */
function rgbToLatent(): Float32Array {
  const m = LATENT_TO_RGB;
  const mmt = [0, 1, 2].map((i) => [0, 1, 2].map((j) => m[i].reduce((acc, v, k) => acc + v * m[j][k], 0)));
  const [[a, b, c], [d, e, f], [g, h, i]] = mmt;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  const inv = [
    [e * i - f * h, c * h - b * i, b * f - c * e],
    [f * g - d * i, a * i - c * g, c * d - a * f],
    [d * h - e * g, b * g - a * h, a * e - b * d],
  ].map((row) => row.map((v) => v / det));
  const out = new Float32Array(12);
  for (let ch = 0; ch < 4; ch++)
    for (let rgb = 0; rgb < 3; rgb++)
      out[ch * 3 + rgb] = [0, 1, 2].reduce((acc, k) => acc + m[k][ch] * inv[k][rgb], 0);
  return out;
}

/**
 * vae_encoder: `sample` [batch, 3, H, W] in [−1, 1] → `latent_sample`
 * [batch, 4, H/8, W/8], the demo decoder undone: average each 8×8 cell,
 * atanh (clipped short of ±1), map RGB to latents with the pseudo-inverse
 * of {@link LATENT_TO_RGB}, divide by the scaling factor. Decoding what it
 * encodes gives the image back blurred to the latent grid.
 */
export function buildDemoVaeEncoder(): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder('demo_vae_encoder', { docString: 'giraffe demo VAE encoder' });
  const image = g.input('sample', 'float32', ['batch', 3, 'height', 'width']);
  const cells = g.op('AveragePool', [image], { kernel_shape: [8, 8], strides: [8, 8] });
  const clipped = g.op('Clip', [cells, g.scalar('rgb_min', -0.995), g.scalar('rgb_max', 0.995)]);
  const linear = g.op('Atanh', [clipped]);
  const matrix = g.initializer('rgb_to_latent', rgbToLatent(), [4, 3, 1, 1]);
  const latents = g.op('Conv', [linear, matrix, g.initializer('latent_bias', new Float32Array(4), [4])]);
  const scaled = g.op('Mul', [latents, g.scalar('inverse_scaling_factor', 1 / 0.18215)]);
  g.output('latent_sample', 'float32', ['batch', 4, 'latent_height', 'latent_width'], scaled);
  return g;
}
