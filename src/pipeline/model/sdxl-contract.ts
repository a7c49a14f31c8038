import type { OnnxComponent, TensorSignature } from './onnx-component';

/** How SDXL's second text encoder is read (optimum's `CLIPTextModelWithProjection` export). */
export interface SecondTextEncoderContract {
  readonly idsInput: string;
  readonly idsType: 'int32' | 'int64';
  /** The penultimate hidden state, `hidden_states.{L-1}`. */
  readonly output: string;
  /** The projected pooled embedding, `text_embeds` [B, P]. */
  readonly pooledOutput: string;
  readonly sequenceLength: number;
  readonly maxBatch: number;
}

/** The U-Net inputs SDXL adds (`addition_embed_type: text_time`). */
export interface AddedConditioningContract {
  /** Width of `text_embeds` (1280 for SDXL). */
  readonly textEmbedsDim: number;
  /** Width of `time_ids` (6: original size, crop corner, target size). */
  readonly timeIdsDim: number;
}

/** Reports one problem of a component and returns undefined (see ContractProblems). */
export type Report = (component: OnnxComponent, problem: string) => undefined;

const fixed = (d: number | string | undefined): number | undefined =>
  typeof d === 'number' && d > 0 ? d : undefined;

/** True when the U-Net takes SDXL's extra conditioning. */
export function isSdxlUnet(unet: OnnxComponent): boolean {
  return unet.input('text_embeds') !== undefined || unet.input('time_ids') !== undefined;
}

/**
 * The penultimate hidden state of a text encoder: diffusers' SDXL pipeline
 * takes `hidden_states[-2]`, and the tuple holds the embeddings plus one state
 * per layer, so for L layers that is optimum's output `hidden_states.{L-1}`.
 */
export function penultimateHiddenState(encoder: OnnxComponent, report: Report): TensorSignature | undefined {
  const states = encoder.outputs
    .map((s) => ({ s, n: /^hidden_states\.(\d+)$/.exec(s.name)?.[1] }))
    .filter((x): x is { s: TensorSignature; n: string } => x.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n));
  if (states.length < 2) {
    return report(
      encoder,
      'an SDXL text encoder must output its hidden states (hidden_states.0 … hidden_states.L, as optimum exports them); ' +
        `its outputs: ${encoder.outputs.map((s) => s.name).join(', ')}`,
    );
  }
  const sig = states[states.length - 2].s;
  if (sig.shape.length !== 3) return report(encoder, `output "${sig.name}" must have rank 3 [B, 77, D]`);
  return sig;
}

/** Checks SDXL's U-Net inputs `text_embeds` [B, P] and `time_ids` [B, 6]. */
export function addedConditioning(
  unet: OnnxComponent,
  report: Report,
): AddedConditioningContract | undefined {
  const embeds = unet.input('text_embeds');
  const timeIds = unet.input('time_ids');
  if (!embeds || !timeIds) {
    return report(unet, 'an SDXL U-Net takes both "text_embeds" and "time_ids"');
  }
  for (const sig of [embeds, timeIds]) {
    if (sig.shape.length !== 2) return report(unet, `input "${sig.name}" must have rank 2`);
    if (sig.type !== 'float32' && sig.type !== 'float16')
      return report(unet, `input "${sig.name}" is ${sig.type}, expected a float tensor`);
  }
  const timeIdsDim = fixed(timeIds.shape[1]) ?? 6;
  if (timeIdsDim !== 6) return report(unet, `input "time_ids" has width ${timeIdsDim}, expected 6`);
  const textEmbedsDim = fixed(embeds.shape[1]);
  if (!textEmbedsDim) return report(unet, 'input "text_embeds" must have a fixed width');
  return { textEmbedsDim, timeIdsDim };
}

/** Checks `text_encoder_2` and returns how to read it. */
export function secondTextEncoder(
  encoder: OnnxComponent,
  report: Report,
  textEmbedsDim: number | undefined,
): { contract: SecondTextEncoderContract; width: number | undefined } | undefined {
  const ids = encoder.input('input_ids');
  if (!ids) return report(encoder, 'has no input "input_ids"');
  if (ids.shape.length !== 2 || (ids.type !== 'int32' && ids.type !== 'int64'))
    return report(encoder, 'input "input_ids" must be int32 or int64 of rank 2');
  const hidden = penultimateHiddenState(encoder, report);
  const pooled = encoder.outputs.find((s) => s.name === 'text_embeds');
  if (!pooled) {
    return report(
      encoder,
      `has no output "text_embeds" (the projected pooled embedding of CLIPTextModelWithProjection); its outputs: ${encoder.outputs.map((s) => s.name).join(', ')}`,
    );
  }
  const pooledWidth = fixed(pooled.shape[1]);
  if (textEmbedsDim && pooledWidth && pooledWidth !== textEmbedsDim) {
    return report(
      encoder,
      `text_embeds has width ${pooledWidth} but the U-Net's text_embeds input takes ${textEmbedsDim}`,
    );
  }
  if (!hidden) return undefined;
  const batch = fixed(ids.shape[0]);
  return {
    contract: {
      idsInput: ids.name,
      idsType: ids.type,
      output: hidden.name,
      pooledOutput: pooled.name,
      sequenceLength: fixed(ids.shape[1]) ?? 77,
      maxBatch: batch ?? Number.POSITIVE_INFINITY,
    },
    width: fixed(hidden.shape[2]),
  };
}
