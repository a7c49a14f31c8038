import sharp from 'sharp';
import type { EditInput } from '../edit-request';
import { acceptInputImage, imageFieldBytes, type InputImageLimits } from '../input-images';
import type { MultipartFields } from '../multipart-body';

/** The images and strength of an OpenAI edit request (`image`, `mask`: file parts or base64 text). */
export interface OpenAiEditImages {
  readonly image: Buffer | string;
  readonly mask?: Buffer | string | null;
  readonly strength?: number | null;
}

/** The edit form's parts: `image` and `mask` are files; the SDK sends an array of images as `image[]`. */
export const openAiEditMultipartFields: MultipartFields = {
  files: ['image', 'mask'],
  strings: new Set([
    'prompt',
    'model',
    'size',
    'response_format',
    'output_format',
    'quality',
    'user',
    'background',
    'input_fidelity',
    'negative_prompt',
    'scheduler',
  ]),
  aliases: { 'image[]': 'image' },
};

/**
 * giraffe's edit fields from OpenAI's: OpenAI marks the area to repaint with
 * fully transparent pixels (of `mask`, or of the image itself when no mask is
 * sent), giraffe with white pixels of `mask_image`. An opaque image without a
 * mask is image-to-image. The images are checked (bytes, header, decode) before
 * any pixel work.
 */
export async function openAiEdit(body: OpenAiEditImages, limits: InputImageLimits): Promise<EditInput> {
  const image = await acceptInputImage('image', imageFieldBytes('image', body.image, limits), limits);
  const strength = body.strength ?? undefined;
  if (body.mask !== undefined && body.mask !== null) {
    const mask = await acceptInputImage(
      'mask_image',
      imageFieldBytes('mask_image', body.mask, limits),
      limits,
    );
    return { image: image.data, mask_image: await transparentAreaMask(mask.data), strength };
  }
  const { isOpaque } = await sharp(image.data).stats();
  if (isOpaque) return { image: image.data, strength };
  return { image: image.data, mask_image: await transparentAreaMask(image.data), strength };
}

/** White where the picture is fully transparent (alpha 0), black elsewhere: a giraffe mask, as a PNG. */
async function transparentAreaMask(picture: Buffer): Promise<Buffer> {
  return sharp(picture)
    .ensureAlpha()
    .extractChannel(3)
    .threshold(1, { grayscale: true })
    .negate({ alpha: false })
    .png()
    .toBuffer();
}
