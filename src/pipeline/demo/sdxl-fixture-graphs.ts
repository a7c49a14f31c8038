import { layers, SEQUENCE_LENGTH, type FixtureShape } from './fixture-graphs';
import { TensorDataType, type OnnxGraphBuilder } from './onnx';

/** One of SDXL's two CLIP text encoders, as optimum exports them. */
export interface SdxlTextEncoderSpec {
  /** Hidden width D. */
  readonly width: number;
  /** Transformer layers L: the graph outputs `hidden_states.0` … `hidden_states.L`. */
  readonly layers: number;
  /** Width of the projected pooled output `text_embeds` (CLIPTextModelWithProjection); none for encoder 1. */
  readonly projectionDim?: number;
  /** Distinguishes the two encoders' random weights. */
  readonly seedOffset: number;
}

/**
 * A CLIP text encoder with optimum's SDXL outputs: `hidden_states.0` (the
 * embeddings) to `hidden_states.L` (after each pre-LN transformer layer),
 * `last_hidden_state` (the final LayerNorm of the last), and either
 * `pooler_output` (the end-of-text state, encoder 1) or `text_embeds` (that
 * state through a bias-free projection, encoder 2, listed first as optimum does).
 */
export function buildSdxlTextEncoder(s: FixtureShape, spec: SdxlTextEncoderSpec): OnnxGraphBuilder {
  const D = spec.width;
  const name = spec.projectionDim ? 'fixture_sdxl_text_encoder_2' : 'fixture_sdxl_text_encoder';
  const L = layers(name, s, spec.seedOffset, `giraffe SDXL fixture text encoder (random weights)`);
  const g = L.g;
  const ids = g.input('input_ids', s.idsType, [s.batch, SEQUENCE_LENGTH]);
  const tokens = g.op('Gather', [L.random('token_embedding', [s.vocabSize, D], 1), ids], { axis: 0 });
  let x = g.op('Add', [tokens, L.random('position_embedding', [SEQUENCE_LENGTH, D], 0.5)]);
  const mask = new Float32Array(SEQUENCE_LENGTH * SEQUENCE_LENGTH);
  for (let i = 0; i < SEQUENCE_LENGTH; i++)
    for (let j = i + 1; j < SEQUENCE_LENGTH; j++) mask[i * SEQUENCE_LENGTH + j] = -1e4;
  const causal = g.initializer('causal_mask', mask, [1, 1, SEQUENCE_LENGTH, SEQUENCE_LENGTH]);
  const heads = D % 2 === 0 ? 2 : 1;
  const states = [x];
  for (let l = 0; l < spec.layers; l++) {
    const h1 = L.layerNorm(x, D, `layer${l}.ln1`);
    x = g.op('Add', [x, L.attention(h1, h1, D, D, heads, `layer${l}.self_attn`, causal)]);
    const h2 = L.layerNorm(x, D, `layer${l}.ln2`);
    const mlp = L.linear(L.gelu(L.linear(h2, D, 4 * D, `layer${l}.fc1`)), 4 * D, D, `layer${l}.fc2`, 0.5);
    x = g.op('Add', [x, mlp]);
    states.push(x);
  }
  const hidden = L.layerNorm(x, D, 'final_layer_norm');
  const eot = g.op('ArgMax', [g.op('Cast', [ids], { to: TensorDataType.float32 })], { axis: 1, keepdims: 1 });
  const pooled = g.op('GatherND', [hidden, eot], { batch_dims: 1 });
  if (spec.projectionDim) {
    const projection = L.random('text_projection', [D, spec.projectionDim], 1 / Math.sqrt(D));
    L.floatOutput('text_embeds', [s.batch, spec.projectionDim], g.op('MatMul', [pooled, projection]));
  }
  L.floatOutput('last_hidden_state', [s.batch, SEQUENCE_LENGTH, D], hidden);
  if (!spec.projectionDim) L.floatOutput('pooler_output', [s.batch, D], pooled);
  states.forEach((state, i) => L.floatOutput(`hidden_states.${i}`, [s.batch, SEQUENCE_LENGTH, D], state));
  return g;
}
