import { GiraffeError } from '../../errors';
import type { LoadedModel } from '../model';
import type { OnnxComponent } from '../model/onnx-component';
import type { ClipTokenizer } from '../tokenizer';
import type { PromptEmbeddings } from './encode-prompt';

/** SDXL's micro-conditioning, with diffusers' names: two numbers each, sizes `[height, width]`, the corner `[top, left]`. */
export interface SdxlSizeConditioning {
  /** @defaultValue `[height, width]` of the image */
  readonly original_size?: readonly number[];
  /** @defaultValue `[0, 0]` */
  readonly crops_coords_top_left?: readonly number[];
  /** @defaultValue `[height, width]` of the image */
  readonly target_size?: readonly number[];
}

/** The U-Net's inputs beyond sample, timestep and text states: one row per batch item, in the embeddings' order. */
export type AddedConditioning = Readonly<Record<string, Float32Array>>;

/** SDXL's conditioning: the joined text states, and `text_embeds` and `time_ids` for the U-Net. */
export interface SdxlConditioning {
  readonly embeddings: PromptEmbeddings;
  readonly added: AddedConditioning;
}

interface EncodedText {
  /** Penultimate hidden states [77, D]. */
  readonly states: Float32Array;
  readonly tokens: number;
  readonly width: number;
  /** `text_embeds` [P] (second encoder only). */
  readonly pooled?: Float32Array;
}

async function runEncoder(
  encoder: OnnxComponent,
  tokenizer: ClipTokenizer,
  c: { idsInput: string; output: string; sequenceLength: number },
  text: string,
  pooledOutput?: string,
): Promise<EncodedText> {
  const ids = tokenizer.encodeForModel(text, c.sequenceLength);
  const names = pooledOutput ? [c.output, pooledOutput] : [c.output];
  const out = await encoder.run({ [c.idsInput]: { data: ids, dims: [1, ids.length] } }, names);
  const hidden = out[c.output];
  return {
    states: hidden.data,
    tokens: hidden.dims[1],
    width: hidden.dims[2],
    ...(pooledOutput ? { pooled: out[pooledOutput].data } : {}),
  };
}

/** Both encoders' penultimate states side by side per token (encoder 1 first), and encoder 2's pooled embedding. */
async function encodeBoth(
  model: LoadedModel,
  text: string,
): Promise<{ states: Float32Array; pooled: Float32Array; tokens: number; width: number }> {
  const { contract } = model;
  const second = contract.textEncoder2!;
  const a = await runEncoder(model.textEncoder, model.tokenizer, contract.textEncoder, text);
  const b = await runEncoder(model.textEncoder2!, model.tokenizer2!, second, text, second.pooledOutput);
  if (a.tokens !== b.tokens) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_OUTPUT_INVALID',
      `the text encoders give ${a.tokens} and ${b.tokens} tokens; SDXL joins them token by token`,
    );
  }
  const width = a.width + b.width;
  const states = new Float32Array(a.tokens * width);
  for (let t = 0; t < a.tokens; t++) {
    states.set(a.states.subarray(t * a.width, (t + 1) * a.width), t * width);
    states.set(b.states.subarray(t * b.width, (t + 1) * b.width), t * width + a.width);
  }
  return { states, pooled: b.pooled!, tokens: a.tokens, width };
}

/** `[orig_h, orig_w, crop_top, crop_left, target_h, target_w]` with diffusers' defaults. */
export function sdxlTimeIds(width: number, height: number, sizes: SdxlSizeConditioning): Float32Array {
  const original = sizes.original_size ?? [height, width];
  const crop = sizes.crops_coords_top_left ?? [0, 0];
  const target = sizes.target_size ?? [height, width];
  return Float32Array.from([...original, ...crop, ...target]);
}

/** Repeats each row `times` times, rows in order: [r0 × times, r1 × times, …]. */
function repeatRows(rows: readonly Float32Array[], times: number): Float32Array {
  const per = rows[0].length;
  const out = new Float32Array(per * times * rows.length);
  let offset = 0;
  for (const row of rows) for (let i = 0; i < times; i++, offset += per) out.set(row, offset);
  return out;
}

/**
 * SDXL's prompt encoding, as diffusers' StableDiffusionXLPipeline does it:
 * the penultimate hidden states of both text encoders joined per token
 * (encoder 1 first), the pooled `text_embeds` of text_encoder_2, and
 * `time_ids` from the image sizes. Under classifier-free guidance the
 * unconditional half comes first; with no negative prompt and the model's
 * `force_zeros_for_empty_prompt`, its states and embeds are zeros rather
 * than the encoding of "". (An empty `negative_prompt` counts as none.)
 */
export async function encodePromptSdxl(
  model: LoadedModel,
  prompt: string,
  negativePrompt: string,
  numImages: number,
  withUnconditional: boolean,
  image: { width: number; height: number; sizes: SdxlSizeConditioning },
): Promise<SdxlConditioning> {
  const cond = await encodeBoth(model, prompt);
  const parts = [cond];
  if (withUnconditional) {
    const zeros = negativePrompt === '' && model.directory.forceZerosForEmptyPrompt;
    parts.unshift(
      zeros
        ? {
            ...cond,
            states: new Float32Array(cond.states.length),
            pooled: new Float32Array(cond.pooled.length),
          }
        : await encodeBoth(model, negativePrompt),
    );
  }
  const timeIds = sdxlTimeIds(image.width, image.height, image.sizes);
  return {
    embeddings: {
      data: repeatRows(
        parts.map((p) => p.states),
        numImages,
      ),
      batch: numImages * parts.length,
      tokens: cond.tokens,
      width: cond.width,
    },
    added: {
      text_embeds: repeatRows(
        parts.map((p) => p.pooled),
        numImages,
      ),
      time_ids: repeatRows(
        parts.map(() => timeIds),
        numImages,
      ),
    },
  };
}
