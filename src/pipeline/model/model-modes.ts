import { GiraffeError } from '../../errors';
import type { GenerationMode } from '../generate-request';
import { convInputChannels } from './conv-input-channels';
import { isInpaintingUnet, type ModelContract } from './model-contract';
import type { ModelDirectory } from './model-directory';

/** Whether a model can do one kind of generation, and if not, why. */
export interface ModeSupport {
  readonly supported: boolean;
  /** Why not, in words a user can act on (e.g. "the export has no vae_encoder"). */
  readonly reason?: string;
}

export type ModelModes = Readonly<Record<GenerationMode, ModeSupport>>;

const yes: ModeSupport = { supported: true };

/**
 * What a loaded model can do: text-to-image needs a 4-channel U-Net (an
 * inpainting U-Net always needs an image and a mask); image-to-image and
 * inpainting need a `vae_encoder`. A 4-channel model inpaints by latent mask
 * blending (an approximation), a 9-channel one as diffusers' inpainting pipeline.
 */
export function modelModes(contract: ModelContract): ModelModes {
  return modesOf(
    isInpaintingUnet(contract.unet),
    contract.unet.sampleChannels,
    contract.vaeEncoder !== undefined,
  );
}

/**
 * {@link modelModes} from the files alone, without onnxruntime (for a process
 * that serves requests and loads no model): the `vae_encoder` file's presence,
 * and the U-Net's input channels read from its `conv_in` weight in the ONNX file.
 */
export function modelModesFromDirectory(directory: ModelDirectory): ModelModes {
  const sampleChannels = convInputChannels(directory.onnxFiles.unet, 'sample') ?? 4;
  return modesOf(sampleChannels === 9, sampleChannels, directory.vaeEncoderFile !== undefined);
}

function modesOf(inpaintingUnet: boolean, sampleChannels: number, hasEncoder: boolean): ModelModes {
  const noEncoder: ModeSupport = {
    supported: false,
    reason: 'the export has no vae_encoder (vae_encoder/model.onnx), which turns an input image into latents',
  };
  return {
    'text-to-image': inpaintingUnet
      ? {
          supported: false,
          reason: `the U-Net is an inpainting U-Net (${sampleChannels} input channels): it needs an image and a mask_image`,
        }
      : yes,
    'image-to-image': !hasEncoder
      ? noEncoder
      : inpaintingUnet
        ? {
            supported: false,
            reason: 'the U-Net is an inpainting U-Net: send a mask_image with the image (white = repaint)',
          }
        : yes,
    inpainting: hasEncoder ? yes : noEncoder,
  };
}

/**
 * Refuses a request the model cannot serve (GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED),
 * naming what is missing; `modes` is {@link ModelInfo.modes}.
 */
export function checkModelMode(modes: ModelModes, mode: GenerationMode, modelId: string): void {
  const support = modes[mode];
  if (support.supported) return;
  const field = mode === 'text-to-image' ? 'image' : mode === 'inpainting' ? 'mask_image' : 'image';
  throw new GiraffeError(
    'GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED',
    `model "${modelId}" cannot do ${mode}: ${support.reason}`,
    { field, mode, model: modelId },
  );
}
