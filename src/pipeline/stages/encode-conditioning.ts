import type { LoadedModel } from '../model';
import type { ResolvedRequest } from '../generate-request';
import { encodePrompt, type PromptEmbeddings } from './encode-prompt';
import { encodePromptSdxl, type AddedConditioning } from './encode-prompt-sdxl';

/** What the U-Net is conditioned on: the text states, and SDXL's extra inputs when the model takes them. */
export interface Conditioning {
  readonly embeddings: PromptEmbeddings;
  readonly added?: AddedConditioning;
}

/** Encodes a request's prompts the way the model's family does (SD 1.x/2.x, or SDXL with two encoders). */
export async function encodeConditioning(
  model: LoadedModel,
  r: ResolvedRequest,
  withUnconditional: boolean,
): Promise<Conditioning> {
  if (model.textEncoder2 && model.contract.unet.addedConditioning) {
    return encodePromptSdxl(model, r.prompt, r.negative_prompt, r.num_images, withUnconditional, {
      width: r.width,
      height: r.height,
      sizes: r,
    });
  }
  return {
    embeddings: await encodePrompt(model, r.prompt, r.negative_prompt, r.num_images, withUnconditional),
  };
}
