import { performance } from 'node:perf_hooks';
import type { RequestImages, ResolvedRequest } from '../generate-request';
import { requestLimits } from '../generate-request';
import { decodeInputImage, decodeInputMask } from '../image/decode-input-image';
import { blurMask } from '../image/latent-mask';
import { isInpaintingUnet, type LoadedModel } from '../model';
import type { NumpyRandomState } from '../random';
import type { Scheduler } from '../schedulers';
import type { DenoiseHooks } from './denoise-hooks';
import {
  type ImageLatents,
  prepareBlendInpainting,
  prepareImageToImage,
  prepareInpainting,
  type LatentShape,
} from './prepare-image-latents';
import { prepareLatents } from './prepare-latents';

/** The start of the denoising loop for a request's mode. */
export interface ModeLatents {
  readonly latents: Float32Array;
  readonly firstStep: number;
  readonly hooks?: DenoiseHooks;
  /** Milliseconds decoding and fitting the input images (0 for text-to-image). */
  readonly inputDecodeMs: number;
  /** Milliseconds inside the VAE encoder (0 for text-to-image). */
  readonly vaeEncoderMs: number;
}

/**
 * prepareLatents for every mode: text-to-image draws noise; image-to-image
 * noises the encoded image to the strength's step; inpainting runs the
 * 9-channel U-Net's conditioning or, on a 4-channel model, latent blending.
 * Callers have checked the mode against the model (checkModelMode).
 */
export async function prepareModeLatents(
  model: LoadedModel,
  scheduler: Scheduler,
  rng: NumpyRandomState,
  r: ResolvedRequest,
  images: RequestImages,
  shape: LatentShape,
  maxInputPixels: number = requestLimits.maxInputPixels,
): Promise<ModeLatents> {
  if (images.image === undefined) {
    const count = shape.batch * shape.channels * shape.height * shape.width;
    return {
      latents: prepareLatents(rng, count, scheduler.initNoiseSigma),
      firstStep: 0,
      inputDecodeMs: 0,
      vaeEncoderMs: 0,
    };
  }
  const t0 = performance.now();
  const fit = {
    width: r.width,
    height: r.height,
    resizeMode: r.resize_mode ?? 'crop',
    maxPixels: maxInputPixels,
  };
  const [image, mask] = await Promise.all([
    decodeInputImage(images.image, { ...fit, field: 'image' }),
    images.mask_image === undefined
      ? undefined
      : decodeInputMask(images.mask_image, { ...fit, field: 'mask_image' }),
  ]);
  const inputDecodeMs = performance.now() - t0;
  const strength = r.strength ?? 1;
  let start: ImageLatents;
  if (mask === undefined) {
    start = await prepareImageToImage(model, scheduler, rng, image, shape, r.steps, strength);
  } else if (isInpaintingUnet(model.contract.unet)) {
    // diffusers has no mask blur; with one asked for, the model gets the blurred mask (as AUTOMATIC1111 does).
    const blur = r.mask_blur ?? 0;
    start = await prepareInpainting(
      model,
      scheduler,
      rng,
      image,
      blur > 0 ? await blurMask(mask, blur) : mask,
      shape,
    );
  } else {
    start = await prepareBlendInpainting(
      model,
      scheduler,
      rng,
      image,
      mask,
      shape,
      r.steps,
      strength,
      r.mask_blur ?? 0,
    );
  }
  return {
    latents: start.latents,
    firstStep: start.firstStep,
    hooks: start.hooks,
    inputDecodeMs,
    vaeEncoderMs: start.vaeEncoderMs,
  };
}
