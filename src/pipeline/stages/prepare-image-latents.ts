import type { DecodedPixels } from '../image/decode-input-image';
import { blendLatentMask, nearestLatentMask } from '../image/latent-mask';
import type { LoadedModel } from '../model';
import type { NumpyRandomState } from '../random';
import type { Scheduler } from '../schedulers';
import type { DenoiseHooks } from './denoise-hooks';
import { encodeImageLatents, pixelsToTensor } from './encode-image';
import { prepareLatents } from './prepare-latents';

/** Where an image-conditioned run starts: its latents, first step and loop hooks. */
export interface ImageLatents {
  readonly latents: Float32Array;
  /** Index in the scheduler's timesteps of the first step to run. */
  readonly firstStep: number;
  readonly hooks: DenoiseHooks;
  /** Milliseconds inside the VAE encoder. */
  readonly vaeEncoderMs: number;
}

/** The size of one latent batch item and how many there are. */
export interface LatentShape {
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/**
 * diffusers' ONNX image-to-image rule for strength (`steps_offset` from the
 * scheduler config): `init = min(⌊steps·strength⌋ + offset, steps)`; noise
 * goes in at `timesteps[−init]` and denoising runs `timesteps[steps − init + offset:]`.
 * For DDIM, Euler and DPM that starts one entry after the noise timestep (so
 * strength 1 skips the first step); PNDM's list is steps + 1 long and the two
 * coincide. `init` is kept ≥ 1: with offset 0 and a tiny strength diffusers
 * would noise at `timesteps[-0]` (the noisiest) and then run no step at all.
 */
export function strengthSchedule(
  timesteps: Float32Array,
  steps: number,
  strength: number,
  stepsOffset: number,
): { noiseIndex: number; firstStep: number } {
  const init = Math.max(1, Math.min(Math.floor(steps * strength) + stepsOffset, steps));
  return {
    noiseIndex: timesteps.length - init,
    firstStep: Math.min(timesteps.length, Math.max(steps - init + stepsOffset, 0)),
  };
}

function repeat(one: Float32Array, times: number): Float32Array {
  if (times === 1) return one;
  const out = new Float32Array(one.length * times);
  for (let i = 0; i < times; i++) out.set(one, i * one.length);
  return out;
}

async function timedEncode(
  model: LoadedModel,
  tensor: Float32Array,
  height: number,
  width: number,
): Promise<{ latents: Float32Array; ms: number }> {
  const t0 = performance.now();
  const latents = await encodeImageLatents(model, tensor, height, width);
  return { latents, ms: performance.now() - t0 };
}

/**
 * Image-to-image as diffusers' `OnnxStableDiffusionImg2ImgPipeline`: the
 * image (as `2·u8/255 − 1`) VAE-encoded and scaled, one `randn(B, C, h, w)`
 * from the seed's RandomState as noise, `add_noise` at the strength's timestep.
 */
export async function prepareImageToImage(
  model: LoadedModel,
  scheduler: Scheduler,
  rng: NumpyRandomState,
  image: DecodedPixels,
  shape: LatentShape,
  steps: number,
  strength: number,
): Promise<ImageLatents & { clean: Float32Array; noise: Float32Array }> {
  const encoded = await timedEncode(model, pixelsToTensor(image, 'img2img'), image.height, image.width);
  const clean = repeat(encoded.latents, shape.batch);
  const offset = Number(model.directory.schedulerConfig.steps_offset ?? 0) || 0;
  const { noiseIndex, firstStep } = strengthSchedule(scheduler.timesteps, steps, strength, offset);
  const noise = rng.randnFloat32(clean.length);
  const latents = scheduler.addNoise(clean, noise, scheduler.timesteps[noiseIndex]);
  return { latents, firstStep, hooks: {}, vaeEncoderMs: encoded.ms, clean, noise };
}

/**
 * Inpainting with a 9-channel U-Net as diffusers'
 * `OnnxStableDiffusionInpaintPipeline`: latents `randn(B, C, h, w)·σ_init`
 * first, the masked image `image·(mask < 127.5)` (as `u8/127.5 − 1`)
 * VAE-encoded and scaled, the latent mask by NEAREST at 8i + 4 thresholded at
 * 128, and every step's U-Net sample [scaled latents, mask, masked latents].
 * All timesteps run; `strength` is not used (diffusers' ONNX pipeline has none).
 */
export async function prepareInpainting(
  model: LoadedModel,
  scheduler: Scheduler,
  rng: NumpyRandomState,
  image: DecodedPixels,
  mask: DecodedPixels,
  shape: LatentShape,
): Promise<ImageLatents> {
  const { batch, channels, height: h, width: w } = shape;
  const cells = h * w;
  const latents = prepareLatents(rng, batch * channels * cells, scheduler.initNoiseSigma);
  const encoded = await timedEncode(model, pixelsToTensor(image, 'inpaint', mask), image.height, image.width);
  const latentMask = nearestLatentMask(mask, h, w);
  const sampleChannels = 2 * channels + 1;
  // The constant part of every step's sample, per batch item: [_, mask, masked latents].
  const perItem = sampleChannels * cells;
  const sample = new Float32Array(batch * perItem);
  for (let b = 0; b < batch; b++) {
    sample.set(latentMask, b * perItem + channels * cells);
    sample.set(encoded.latents, b * perItem + (channels + 1) * cells);
  }
  const perLatents = channels * cells;
  return {
    latents,
    firstStep: 0,
    vaeEncoderMs: encoded.ms,
    hooks: {
      sampleChannels,
      modelInput(scaled) {
        for (let b = 0; b < batch; b++) {
          sample.set(scaled.subarray(b * perLatents, (b + 1) * perLatents), b * perItem);
        }
        return sample;
      },
    },
  };
}

/**
 * Inpainting with an ordinary 4-channel model by latent mask blending (as
 * AUTOMATIC1111 and diffusers' 4-channel path do; an approximation: the model
 * never sees the mask, so edges may not match as a real inpainting model's
 * do). Starts as image-to-image at `strength`; after every step the kept
 * region (mask 0) is replaced by the original latents noised with the same
 * noise to the next step's level (the clean latents after the last step).
 * `blur` softens the mask's edge first.
 */
export async function prepareBlendInpainting(
  model: LoadedModel,
  scheduler: Scheduler,
  rng: NumpyRandomState,
  image: DecodedPixels,
  mask: DecodedPixels,
  shape: LatentShape,
  steps: number,
  strength: number,
  blur: number,
): Promise<ImageLatents> {
  const start = await prepareImageToImage(model, scheduler, rng, image, shape, steps, strength);
  const { clean, noise } = start;
  const cells = shape.height * shape.width;
  const latentMask = await blendLatentMask(mask, shape.height, shape.width, blur);
  const timesteps = scheduler.timesteps;
  const f32 = Math.fround;
  return {
    latents: start.latents,
    firstStep: start.firstStep,
    vaeEncoderMs: start.vaeEncoderMs,
    hooks: {
      afterStep(latents, index) {
        const proper =
          index < timesteps.length - 1 ? scheduler.addNoise(clean, noise, timesteps[index + 1]) : clean;
        const out = new Float32Array(latents.length);
        for (let i = 0; i < latents.length; i++) {
          const m = latentMask[i % cells];
          out[i] =
            m === 1 ? latents[i] : m === 0 ? proper[i] : f32(f32((1 - m) * proper[i]) + f32(m * latents[i]));
        }
        return out;
      },
    },
  };
}
