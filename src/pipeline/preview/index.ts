export {
  latentRgbFactors,
  sd1LatentRgb,
  sdxlLatentRgb,
  type LatentFormat,
  type LatentRgbFactors,
} from './latent-rgb-factors';
export { linearPreview, type Latents, type PreviewPixels } from './linear-preview';
export { TaesdPreviewDecoder, findTaesd, taesdFiles } from './taesd-preview';
