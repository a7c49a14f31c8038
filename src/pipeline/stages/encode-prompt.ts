import type { LoadedModel } from '../model';

/** Text embeddings laid out as the U-Net takes them: [batch, tokens, width], float32. */
export interface PromptEmbeddings {
  readonly data: Float32Array;
  readonly batch: number;
  readonly tokens: number;
  readonly width: number;
}

async function encodeOne(
  model: LoadedModel,
  text: string,
): Promise<{ data: Float32Array; tokens: number; width: number }> {
  const { textEncoder, contract, tokenizer } = model;
  const ids = tokenizer.encodeForModel(text, contract.textEncoder.sequenceLength);
  const out = await textEncoder.run(
    { [contract.textEncoder.idsInput]: { data: ids, dims: [1, ids.length] } },
    [contract.textEncoder.output],
  );
  const hidden = out[contract.textEncoder.output];
  return { data: hidden.data, tokens: hidden.dims[1], width: hidden.dims[2] };
}

/**
 * Encodes the prompt (and, under classifier-free guidance, the negative
 * prompt) once each and repeats them per image. The unconditional half comes
 * first, as diffusers lays out its CFG batch.
 */
export async function encodePrompt(
  model: LoadedModel,
  prompt: string,
  negativePrompt: string,
  numImages: number,
  withUnconditional: boolean,
): Promise<PromptEmbeddings> {
  const cond = await encodeOne(model, prompt);
  const parts = withUnconditional ? [await encodeOne(model, negativePrompt), cond] : [cond];
  const per = cond.data.length;
  const data = new Float32Array(per * numImages * parts.length);
  let offset = 0;
  for (const part of parts) {
    for (let i = 0; i < numImages; i++, offset += per) data.set(part.data, offset);
  }
  return { data, batch: numImages * parts.length, tokens: cond.tokens, width: cond.width };
}
