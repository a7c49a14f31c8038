import { GiraffeError } from '../errors';

/**
 * Pipeline classes whose ONNX exports giraffe runs: Stable Diffusion 1.x/2.x
 * (and their Turbo, LCM, image-to-image and inpainting variants) and SDXL
 * base/Turbo, under the names diffusers, its ONNX pipelines and optimum write.
 */
const supportedClasses = new Set([
  'StableDiffusionPipeline',
  'StableDiffusionImg2ImgPipeline',
  'StableDiffusionInpaintPipeline',
  'OnnxStableDiffusionPipeline',
  'OnnxStableDiffusionImg2ImgPipeline',
  'OnnxStableDiffusionInpaintPipeline',
  'ORTStableDiffusionPipeline',
  'ORTStableDiffusionImg2ImgPipeline',
  'ORTStableDiffusionInpaintPipeline',
  'LatentConsistencyModelPipeline',
  'ORTLatentConsistencyModelPipeline',
  'StableDiffusionXLPipeline',
  'StableDiffusionXLImg2ImgPipeline',
  'StableDiffusionXLInpaintPipeline',
  'ORTStableDiffusionXLPipeline',
  'ORTStableDiffusionXLImg2ImgPipeline',
]);

/** Components giraffe cannot run, with the family they betray. */
const foreignComponents: Record<string, string> = {
  transformer: 'a diffusion transformer (SD3, Flux, PixArt …), not a U-Net',
  text_encoder_3: 'a third text encoder (Stable Diffusion 3)',
  prior: 'a prior model (Kandinsky, Stable Cascade)',
  decoder: 'a separate decoder model (Kandinsky, Stable Cascade, unCLIP)',
  image_encoder: 'an image encoder (unCLIP, IP-Adapter)',
  low_res_scheduler: 'a low-resolution scheduler (the x4 upscaler)',
};

/**
 * Channels of the U-Net's `sample`: 4 for text-to-image and image-to-image,
 * 9 for inpainting ([latents, mask, masked-image latents]).
 */
const supportedUnetChannels = new Set([4, 9]);

function unsupported(repo: string, what: string, details: Record<string, unknown>): GiraffeError {
  return new GiraffeError(
    'GIRAFFE_ERR_MODEL_UNSUPPORTED',
    `${repo}: giraffe cannot run this model: ${what}. It runs ONNX exports of Stable Diffusion 1.x/2.x, SDXL and their Turbo/LCM variants (see docs/models.md); nothing large was downloaded`,
    { repo, ...details },
  );
}

/**
 * Refuses, from `model_index.json` and `unet/config.json` alone (a few kB),
 * a model giraffe cannot run: an unknown pipeline class, a component of
 * another architecture, a missing text encoder or U-Net, or a U-Net whose
 * channels are neither 4 nor 9. Called before any weight is fetched.
 */
export function checkSupportedPipeline(
  repo: string,
  modelIndex: Readonly<Record<string, unknown>>,
  unetConfig: Readonly<Record<string, unknown>> | undefined,
): void {
  const className = String(modelIndex._class_name ?? '');
  if (!supportedClasses.has(className)) {
    throw unsupported(repo, `its pipeline class is ${className ? `"${className}"` : 'not named'}`, {
      class_name: className,
    });
  }
  // A component is listed as [library, class]; [null, null] means "not in this export".
  const listed = Object.keys(modelIndex).filter((k) => {
    const v = modelIndex[k];
    return !k.startsWith('_') && Array.isArray(v) && v.length === 2 && v[1] !== null;
  });
  for (const name of listed) {
    const family = foreignComponents[name];
    if (family) throw unsupported(repo, `it lists "${name}", ${family}`, { component: name });
  }
  for (const needed of ['text_encoder', 'tokenizer', 'unet', 'scheduler']) {
    if (!listed.includes(needed)) {
      throw unsupported(
        repo,
        `model_index.json lists no "${needed}" (an SDXL refiner, for one, has no first text encoder)`,
        {
          component: needed,
        },
      );
    }
  }
  const channels = unetConfig?.in_channels;
  if (typeof channels === 'number' && !supportedUnetChannels.has(channels)) {
    throw unsupported(
      repo,
      `its U-Net takes ${channels} input channels (giraffe runs 4, and 9 for inpainting; 8 is InstructPix2Pix, 7 the x4 upscaler)`,
      { in_channels: channels },
    );
  }
}
