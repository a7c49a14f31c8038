import sharp from 'sharp';
import { GiraffeError } from '../../../errors';
import type { EditInput } from '../../edit-request';
import { decodeBase64Image } from './base64-image';
import type { Img2ImgRequest } from './generation-request';

/** The image-editing fields of a giraffe job (issue 13's contract), from A1111's img2img fields. */
export type EditFields = EditInput & { readonly image: Buffer; readonly strength: number };

/**
 * A1111's `resize_mode`: 0 "Just resize" stretches, 1 "Crop and resize"
 * crops, 2 "Resize and fill" fits inside and fills the rest, 3 "Just resize
 * (latent upscale)" stretches too (we have no latent upscaler; the picture
 * has the same framing).
 */
const resizeModes = ['stretch', 'crop', 'fit', 'stretch'] as const;

/** A1111's defaults for img2img (modules/api/models.py, processing.py). */
const DEFAULT_STRENGTH = 0.75;
const DEFAULT_MASK_BLUR = 4;

/**
 * Maps A1111's img2img fields onto the job's: the first of `init_images`
 * (A1111 uses the others only for batches of different inputs), `mask`
 * (white repaints, as ours; `inpainting_mask_invert: 1` flips it here),
 * `denoising_strength`, `mask_blur` and `resize_mode`.
 */
export async function editFields(body: Img2ImgRequest): Promise<EditFields> {
  const first = body.init_images?.[0];
  if (first === undefined)
    throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', 'init_images: send at least one image', {
      field: 'init_images',
    });
  const image = decodeBase64Image(first, 'init_images.0').bytes;
  const strength = body.denoising_strength ?? DEFAULT_STRENGTH;
  if (strength <= 0)
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      'denoising_strength: must be above 0 (0 would return the input unchanged)',
      { field: 'denoising_strength' },
    );
  let mask: Buffer | undefined;
  if (body.mask) {
    mask = decodeBase64Image(body.mask, 'mask').bytes;
    if (body.inpainting_mask_invert === 1) {
      try {
        mask = await sharp(mask).flatten({ background: '#000000' }).greyscale().negate().png().toBuffer();
      } catch {
        throw new GiraffeError('GIRAFFE_ERR_SDAPI_IMAGE_INVALID', 'mask: the image could not be decoded', {
          field: 'mask',
        });
      }
    }
  }
  return {
    image,
    mask_image: mask,
    strength,
    mask_blur: mask ? (body.mask_blur ?? DEFAULT_MASK_BLUR) : undefined,
    resize_mode: resizeModes[body.resize_mode ?? 0],
  };
}
