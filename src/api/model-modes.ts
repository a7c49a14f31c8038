import * as fs from 'node:fs';
import * as path from 'node:path';
import { GiraffeError } from '../errors';
import { readOnnxInputChannels } from './onnx-input-channels';

/** The kinds of generation a model may support. */
export const generationModes = ['text-to-image', 'image-to-image', 'inpainting'] as const;
export type GenerationMode = (typeof generationModes)[number];

/** Which modes a model supports, and why not the others. */
export interface ModelModes {
  readonly modes: readonly GenerationMode[];
  /** Each unsupported mode, with the reason in words. */
  readonly unsupported: Readonly<Partial<Record<GenerationMode, string>>>;
  /** Channels of the U-Net's `sample` input: 4 (ordinary), 9 (inpainting). */
  readonly unet_in_channels?: number;
}

/**
 * What a model directory supports, read from its files without onnxruntime:
 * whether `vae_encoder/model.onnx` exists, and the channel count of the
 * U-Net's `sample` input from the ONNX header. A 9-channel U-Net is an
 * inpainting model (diffusers' `OnnxStableDiffusionInpaintPipeline`): it
 * needs an image and a mask every time. An ordinary U-Net inpaints too, by
 * blending latents (an approximation, as AUTOMATIC1111 does).
 */
export async function readModelModes(modelDir: string): Promise<ModelModes> {
  const hasEncoder = fs.existsSync(path.join(modelDir, 'vae_encoder', 'model.onnx'));
  let channels: number | undefined;
  try {
    channels = await readOnnxInputChannels(path.join(modelDir, 'unet', 'model.onnx'), 'sample');
  } catch {
    // Unreadable: the worker's own load reports what is wrong; say nothing here.
  }
  return modesOf(hasEncoder, channels);
}

export function modesOf(hasEncoder: boolean, unetChannels: number | undefined): ModelModes {
  const unsupported: Partial<Record<GenerationMode, string>> = {};
  const noEncoder =
    'the model has no vae_encoder (vae_encoder/model.onnx), which turns an input image into latents';
  if (unetChannels === 9) {
    unsupported['text-to-image'] = 'a 9-channel inpainting U-Net needs `image` and `mask_image`';
    unsupported['image-to-image'] = 'a 9-channel inpainting U-Net needs `mask_image` with the image';
    if (!hasEncoder) unsupported.inpainting = noEncoder;
  } else if (!hasEncoder) {
    unsupported['image-to-image'] = noEncoder;
    unsupported.inpainting = noEncoder;
  }
  return {
    modes: generationModes.filter((m) => !(m in unsupported)),
    unsupported,
    ...(unetChannels !== undefined ? { unet_in_channels: unetChannels } : {}),
  };
}

/** The mode a request asks for. */
export function requestMode(request: {
  readonly image?: unknown;
  readonly mask_image?: unknown;
}): GenerationMode {
  if (request.mask_image !== undefined) return 'inpainting';
  return request.image !== undefined ? 'image-to-image' : 'text-to-image';
}

/** Refuses a job its model cannot run (GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED), naming what is missing. */
export function assertModeSupported(
  modelId: string,
  modes: ModelModes | undefined,
  mode: GenerationMode,
): void {
  const why = modes?.unsupported[mode];
  if (why === undefined) return;
  throw new GiraffeError(
    'GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED',
    `model "${modelId}" cannot do ${mode}: ${why} (it supports: ${modes?.modes.join(', ') || 'nothing'})`,
    { field: mode === 'text-to-image' ? 'image' : 'model', mode },
  );
}
