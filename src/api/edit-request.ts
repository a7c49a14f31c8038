import { GiraffeError } from '../errors';
import type { InputImageName, InputImageRef, ResizeMode } from '../jobs';
import { requestLimits } from '../pipeline';
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
  /** The job's width and height: the request's, or the image's own size (see {@link editSize}). */
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
    size: (width, height) => (image ? editSize(image, width, height) : { width, height }),
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

/** The edit fields of the resolved job: image references and the defaults of the mode. */
export function resolveEdit(
  accepted: AcceptedEdit,
  edit: EditInput,
): {
  image?: InputImageRef;
  mask_image?: InputImageRef;
  strength?: number;
  mask_blur?: number;
  resize_mode?: ResizeMode;
} {
  const { image, mask_image: mask } = accepted.images;
  if (!image) return {};
  return {
    image: image.ref,
    strength: edit.strength ?? (mask ? 1 : 0.8),
    resize_mode: edit.resize_mode ?? 'crop',
    ...(mask ? { mask_image: mask.ref, mask_blur: edit.mask_blur ?? 0 } : {}),
  };
}

/**
 * The size of an edit job when the request leaves it out: the image's own,
 * scaled down to fit the largest side the pipeline takes, rounded down to a
 * multiple of 8 (as diffusers' image processor does) and at least the
 * smallest side. With one side given, the other keeps the image's aspect.
 */
export function editSize(
  image: { readonly width: number; readonly height: number },
  width: number | undefined,
  height: number | undefined,
): { width: number; height: number } {
  if (width !== undefined && height !== undefined) return { width, height };
  const scale =
    width !== undefined
      ? width / image.width
      : height !== undefined
        ? height / image.height
        : Math.min(1, requestLimits.maxSide / Math.max(image.width, image.height));
  const fit = (side: number): number =>
    Math.min(requestLimits.maxSide, Math.max(requestLimits.minSide, Math.floor(side / 8) * 8));
  return { width: width ?? fit(image.width * scale), height: height ?? fit(image.height * scale) };
}
