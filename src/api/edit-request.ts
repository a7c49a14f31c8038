import { GiraffeError } from '../errors';
import type { InputImageName, InputImageRef } from '../jobs';
import {
  DEFAULT_IMG2IMG_STRENGTH,
  DEFAULT_INPAINT_STRENGTH,
  sizeForImage,
  type ResizeMode,
} from '../pipeline/generate-request';
import { acceptInputImage, imageFieldBytes, type AcceptedImage, type InputImageLimits } from './input-images';

/** The edit fields of a request as a route received them (JSON text or multipart bytes). */
export interface EditInput {
  readonly image?: string | Buffer;
  readonly mask_image?: string | Buffer;
  readonly strength?: number;
  readonly mask_blur?: number;
  readonly resize_mode?: ResizeMode;
}

/** An edit's images, checked and ready to store. */
export interface AcceptedEdit {
  readonly images: Partial<Record<InputImageName, AcceptedImage>>;
  /** The job's width and height: the request's, or the image's own size (the pipeline's `sizeForImage`). */
  size(width: number | undefined, height: number | undefined): { width?: number; height?: number };
  /** The body to fingerprint for Idempotency-Key: each image replaced by its SHA-256. */
  fingerprintBody(body: unknown): unknown;
}

/**
 * Decodes and checks the request's images (see {@link acceptInputImage}); a
 * text-only request passes through. Both images are checked before either
 * is stored, so a bad mask leaves nothing behind.
 */
export async function acceptEdit(edit: EditInput, limits: InputImageLimits): Promise<AcceptedEdit> {
  if (edit.mask_image !== undefined && edit.image === undefined) {
    throw new GiraffeError(
      'GIRAFFE_ERR_INPUT_IMAGE_INVALID',
      'mask_image: needs `image`: a mask says which part of an image to repaint',
      { field: 'mask_image' },
    );
  }
  const images: Partial<Record<InputImageName, AcceptedImage>> = {};
  for (const name of ['image', 'mask_image'] as const) {
    const value = edit[name];
    if (value === undefined) continue;
    images[name] = await acceptInputImage(name, imageFieldBytes(name, value, limits), limits);
  }
  const image = images.image?.ref;
  return {
    images,
    size: (width, height) =>
      image ? sizeForImage(image.width, image.height, width, height) : { width, height },
    fingerprintBody(body) {
      if (typeof body !== 'object' || body === null) return body;
      const out: Record<string, unknown> = { ...body };
      for (const name of ['image', 'mask_image'] as const) {
        if (name in out) out[name] = images[name] ? `sha256:${images[name].ref.sha256}` : out[name];
      }
      return out;
    },
  };
}

/**
 * The edit fields of the resolved job, as the pipeline resolves them (its
 * default strength per mode, the inputs' sha256), plus the stored images'
 * references for the job record.
 */
export function resolveEdit(
  accepted: AcceptedEdit,
  edit: EditInput,
): {
  image?: InputImageRef;
  mask_image?: InputImageRef;
  strength?: number;
  mask_blur?: number;
  resize_mode?: ResizeMode;
  image_sha256?: string;
  mask_image_sha256?: string;
} {
  const { image, mask_image: mask } = accepted.images;
  if (!image) return {};
  return {
    strength: edit.strength ?? (mask ? DEFAULT_INPAINT_STRENGTH : DEFAULT_IMG2IMG_STRENGTH),
    ...(mask ? { mask_blur: edit.mask_blur ?? 0 } : {}),
    resize_mode: edit.resize_mode ?? 'crop',
    image_sha256: image.ref.sha256,
    ...(mask ? { mask_image_sha256: mask.ref.sha256 } : {}),
    image: image.ref,
    ...(mask ? { mask_image: mask.ref } : {}),
  };
}
