import { LayerBuilder, type Precision } from './nn-layers';
import { OnnxGraphBuilder, TensorDataType, type Dim } from './onnx';
import { SeededRandom } from './seeded-random';

/** Resolved fixture settings the graph builders need (see `FixtureOptions` for their meaning). */
export interface FixtureShape {
  readonly idsType: 'int32' | 'int64';
  readonly timestep: 'float-batch' | 'float-scalar' | 'int64-batch';
  readonly precision: Precision;
  readonly batch: Dim;
  readonly hiddenSize: number;
  readonly channels: number;
  readonly vaeChannels: number;
  readonly seed: number;
  readonly vocabSize: number;
  /** SDXL: the U-Net also takes `text_embeds` [B, P] and `time_ids` [B, 6]. */
  readonly addedCondition?: { readonly textEmbedsDim: number };
  /** A 9-channel inpainting U-Net ([latents, mask, masked-image latents]). */
  readonly inpainting: boolean;
}

export const SEQUENCE_LENGTH = 77;

export function layers(name: string, shape: FixtureShape, seedOffset: number, doc: string): LayerBuilder {
  const g = new OnnxGraphBuilder(name, { docString: doc });
  return new LayerBuilder(g, new SeededRandom((shape.seed * 7919 + seedOffset) >>> 0), shape.precision);
}

/** Heads for an attention layer of this width: two when it splits evenly (SD uses 8 at full width). */
const headsFor = (width: number): number => (width % 2 === 0 ? 2 : 1);

/**
 * CLIP-like text encoder: token + position embedding, one pre-LN transformer
 * layer (causal self-attention, quick-GELU MLP), final LayerNorm.
 * `input_ids` [B, 77] → `last_hidden_state` [B, 77, D], `pooler_output` [B, D]
 * (the hidden state at the end-of-text token, found with ArgMax as CLIP does).
 */
export function buildFixtureTextEncoder(s: FixtureShape): OnnxGraphBuilder {
  const D = s.hiddenSize;
  const L = layers('fixture_text_encoder', s, 1, 'giraffe fixture text encoder (random weights)');
  const g = L.g;
  const ids = g.input('input_ids', s.idsType, [s.batch, SEQUENCE_LENGTH]);
  const tokens = g.op('Gather', [L.random('token_embedding', [s.vocabSize, D], 1), ids], { axis: 0 });
  let x = g.op('Add', [tokens, L.random('position_embedding', [SEQUENCE_LENGTH, D], 0.5)]);

  const mask = new Float32Array(SEQUENCE_LENGTH * SEQUENCE_LENGTH);
  for (let i = 0; i < SEQUENCE_LENGTH; i++)
    for (let j = i + 1; j < SEQUENCE_LENGTH; j++) mask[i * SEQUENCE_LENGTH + j] = -1e4;
  const causal = g.initializer('causal_mask', mask, [1, 1, SEQUENCE_LENGTH, SEQUENCE_LENGTH]);
  const h1 = L.layerNorm(x, D, 'layer0.ln1');
  x = g.op('Add', [x, L.attention(h1, h1, D, D, headsFor(D), 'layer0.self_attn', causal)]);
  const h2 = L.layerNorm(x, D, 'layer0.ln2');
  const mlp = L.linear(L.quickGelu(L.linear(h2, D, 4 * D, 'layer0.fc1')), 4 * D, D, 'layer0.fc2', 0.5);
  x = g.op('Add', [x, mlp]);
  const hidden = L.layerNorm(x, D, 'final_layer_norm');

  const eot = g.op('ArgMax', [g.op('Cast', [ids], { to: TensorDataType.float32 })], { axis: 1, keepdims: 1 });
  const pooled = g.op('GatherND', [hidden, eot], { batch_dims: 1 });
  L.floatOutput('last_hidden_state', [s.batch, SEQUENCE_LENGTH, D], hidden);
  L.floatOutput('pooler_output', [s.batch, D], pooled);
  return g;
}

/** cos ‖ sin of each value of a [N, 1] column at `dim`/2 frequencies (diffusers' flip_sin_to_cos). */
function sinusoid(L: LayerBuilder, column: string, dim: number, hint: string): string {
  const g = L.g;
  const half = dim / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const args = g.op('Mul', [column, g.initializer(`${hint}_freqs`, freqs, [1, half])]);
  return g.op('Concat', [g.op('Cos', [args]), g.op('Sin', [args])], { axis: 1 });
}

/**
 * SDXL's added embedding (`addition_embed_type: text_time`): a sinusoid of
 * each of the six `time_ids`, joined with the pooled `text_embeds`, through
 * Linear → SiLU → Linear; the U-Net adds it to the timestep embedding.
 */
function addedEmbedding(L: LayerBuilder, s: FixtureShape, textEmbedsDim: number, width: number): string {
  const g = L.g;
  const embeds = L.floatInput('text_embeds', [s.batch, textEmbedsDim]);
  const timeIds = L.floatInput('time_ids', [s.batch, 6]);
  const timeDim = 8;
  const column = g.op('Reshape', [timeIds, g.int64s('time_ids_column', [-1, 1])]);
  const perId = g.op('Reshape', [
    sinusoid(L, column, timeDim, 'add_time'),
    g.int64s('time_ids_rows', [-1, 6 * timeDim]),
  ]);
  const joined = g.op('Concat', [embeds, perId], { axis: 1 });
  const h = L.silu(L.linear(joined, textEmbedsDim + 6 * timeDim, width, 'add_embedding.linear_1'));
  return L.linear(h, width, width, 'add_embedding.linear_2', 0.5);
}

/** Sinusoidal timestep embedding (cos ‖ sin, as diffusers' flip_sin_to_cos) → Linear → SiLU → Linear. */
function timestepEmbedding(L: LayerBuilder, s: FixtureShape, width: number): string {
  const g = L.g;
  const timestepType =
    s.timestep === 'int64-batch' ? 'int64' : s.precision === 'fp16' ? 'float16' : 'float32';
  const timestepShape = s.timestep === 'float-scalar' ? [] : [s.batch];
  const t = g.input('timestep', timestepType, timestepShape);
  // A scalar becomes [1, 1] and broadcasts over the batch.
  const column = g.op('Reshape', [
    g.op('Cast', [t], { to: TensorDataType.float32 }),
    g.int64s('t_column', [-1, 1]),
  ]);
  const h = L.silu(
    L.linear(sinusoid(L, column, s.channels, 'time'), s.channels, width, 'time_embedding.linear_1'),
  );
  const temb = L.linear(h, width, width, 'time_embedding.linear_2');
  return s.addedCondition
    ? g.op('Add', [temb, addedEmbedding(L, s, s.addedCondition.textEmbedsDim, width)])
    : temb;
}

/**
 * Spatial transformer: GroupNorm, 1×1 proj_in, tokens [B, HW, C], then
 * self-attention, cross-attention to the text states and a GELU
 * feed-forward (each pre-LayerNorm, residual), 1×1 proj_out, residual.
 */
function transformer(
  L: LayerBuilder,
  x: string,
  context: string,
  C: number,
  D: number,
  hint: string,
): string {
  const g = L.g;
  const h = L.conv(L.groupNorm(x, C, `${hint}.norm`), C, C, 1, `${hint}.proj_in`);
  let tokens = g.op('Transpose', [g.op('Reshape', [h, g.int64s(`${hint}.flat`, [0, C, -1])])], {
    perm: [0, 2, 1],
  });
  const n1 = L.layerNorm(tokens, C, `${hint}.norm1`);
  tokens = g.op('Add', [tokens, L.attention(n1, n1, C, C, headsFor(C), `${hint}.attn1`)]);
  tokens = g.op('Add', [
    tokens,
    L.attention(L.layerNorm(tokens, C, `${hint}.norm2`), context, C, D, headsFor(C), `${hint}.attn2`),
  ]);
  const ff = L.linear(
    L.gelu(L.linear(L.layerNorm(tokens, C, `${hint}.norm3`), C, 4 * C, `${hint}.ff.in`)),
    4 * C,
    C,
    `${hint}.ff.out`,
    0.5,
  );
  tokens = g.op('Add', [tokens, ff]);
  const spatial = g.op('Reshape', [g.op('Transpose', [tokens], { perm: [0, 2, 1] }), g.op('Shape', [x])]);
  return g.op('Add', [x, L.conv(spatial, C, C, 1, `${hint}.proj_out`, { gain: 0.5 })]);
}

/**
 * A U-Net with Stable Diffusion's structure at width C: conv_in, time
 * embedding, ResNet block, stride-2 down-sample, ResNet + spatial transformer
 * (self- and cross-attention), nearest up-sample, skip concatenation, ResNet,
 * GroupNorm → SiLU → conv_out. `sample` [B, 4, h, w], `timestep`,
 * `encoder_hidden_states` [B, 77, D] → `out_sample` [B, 4, h, w].
 */
export function buildFixtureUnet(s: FixtureShape): OnnxGraphBuilder {
  const C = s.channels;
  const D = s.hiddenSize;
  const L = layers('fixture_unet', s, 2, 'giraffe fixture U-Net (random weights)');
  const g = L.g;
  const sampleChannels = s.inpainting ? 9 : 4;
  const sample = L.floatInput('sample', [s.batch, sampleChannels, 'height', 'width']);
  const tembWidth = 2 * C;
  const temb = { value: timestepEmbedding(L, s, tembWidth), width: tembWidth };
  const context = L.floatInput('encoder_hidden_states', [s.batch, SEQUENCE_LENGTH, D]);

  const h0 = L.conv(sample, sampleChannels, C, 3, 'conv_in');
  const skip = L.resBlock(h0, C, C, 'down0.resnet', temb);
  let low = L.conv(skip, C, C, 3, 'down0.downsample', { stride: 2 });
  low = L.resBlock(low, C, C, 'mid.resnet', temb);
  low = transformer(L, low, context, C, D, 'mid.attention');
  const up = L.conv(L.upsampleLike(low, skip), C, C, 3, 'up0.upsample.conv');
  const merged = g.op('Concat', [up, skip], { axis: 1 });
  const h = L.resBlock(merged, 2 * C, C, 'up0.resnet', temb);
  const out = L.conv(L.silu(L.groupNorm(h, C, 'conv_norm_out')), C, 4, 3, 'conv_out', { gain: 0.5 });
  L.floatOutput('out_sample', [s.batch, 4, 'height', 'width'], out);
  return g;
}

/**
 * A VAE decoder shaped like AutoencoderKL's: post_quant_conv, conv_in,
 * ResNet block, three (nearest ×2 → conv3×3 → GroupNorm → SiLU) up-samples,
 * GroupNorm → SiLU → conv_out. `latent_sample` [B, 4, h, w] → `sample`
 * [B, 3, 8h, 8w].
 */
export function buildFixtureVaeDecoder(s: FixtureShape, outputScale = 1): OnnxGraphBuilder {
  const C = s.vaeChannels;
  const L = layers('fixture_vae_decoder', s, 3, 'giraffe fixture VAE decoder (random weights)');
  const latent = L.floatInput('latent_sample', [s.batch, 4, 'height', 'width']);
  let h = L.conv(latent, 4, 4, 1, 'post_quant_conv');
  h = L.conv(h, 4, C, 3, 'decoder.conv_in');
  h = L.resBlock(h, C, C, 'decoder.mid.resnet');
  for (let i = 0; i < 3; i++) {
    h = L.conv(L.upsample2x(h), C, C, 3, `decoder.up${i}.conv`);
    h = L.silu(L.groupNorm(h, C, `decoder.up${i}.norm`));
  }
  let out = L.conv(L.silu(L.groupNorm(h, C, 'decoder.conv_norm_out')), C, 3, 3, 'decoder.conv_out', {
    gain: 0.3,
  });
  if (outputScale !== 1) out = L.g.op('Mul', [out, L.g.scalar('output_scale', outputScale)]);
  L.floatOutput('sample', [s.batch, 3, 'image_height', 'image_width'], out);
  return L.g;
}

/**
 * A VAE encoder shaped like AutoencoderKL's: conv_in, three (conv3×3
 * stride 2 → GroupNorm → SiLU) down-samples, conv_out to the latent
 * channels, quant_conv. `sample` [B, 3, H, W] → `latent_sample`
 * [B, 4, H/8, W/8] (diffusers convert script) or, with `parameters`,
 * `latent_parameters` [B, 8, H/8, W/8] = mean ‖ logvar (optimum). The mean
 * branch draws its weights first, so both layouts of one seed encode alike.
 */
export function buildFixtureVaeEncoder(
  s: FixtureShape,
  layout: 'latent_sample' | 'latent_parameters',
): OnnxGraphBuilder {
  const C = s.vaeChannels;
  const L = layers('fixture_vae_encoder', s, 4, 'giraffe fixture VAE encoder (random weights)');
  const image = L.floatInput('sample', [s.batch, 3, 'height', 'width']);
  let h = L.conv(image, 3, C, 3, 'encoder.conv_in');
  for (let i = 0; i < 3; i++) {
    h = L.conv(h, C, C, 3, `encoder.down${i}.conv`, { stride: 2 });
    h = L.silu(L.groupNorm(h, C, `encoder.down${i}.norm`));
  }
  const mean = L.conv(L.conv(h, C, 4, 3, 'encoder.conv_out'), 4, 4, 1, 'quant_conv');
  if (layout === 'latent_sample') {
    L.floatOutput('latent_sample', [s.batch, 4, 'latent_height', 'latent_width'], mean);
  } else {
    const logvar = L.conv(h, C, 4, 3, 'encoder.conv_out_logvar', { gain: 0.1 });
    const params = L.g.op('Concat', [mean, logvar], { axis: 1 });
    L.floatOutput('latent_parameters', [s.batch, 8, 'latent_height', 'latent_width'], params);
  }
  return L.g;
}
