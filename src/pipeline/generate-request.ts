import { createHash } from 'node:crypto';
import { z } from 'zod';
import { GiraffeError } from '../errors';
import { orientedSize, probeImage, type ImageProbe } from './image/probe-image';
import { schedulerNames, type SchedulerName } from './schedulers';

/** Largest seed: numpy's RandomState takes 32-bit seeds. */
export const MAX_SEED = 2 ** 32 - 1;

/** Bounds the pipeline itself enforces; the API may set tighter ones. */
export const requestLimits = {
  minSide: 64,
  maxSide: 2048,
  maxSteps: 150,
  maxGuidance: 50,
  maxImages: 8,
  maxPromptChars: 10_000,
  /** Most pixels an input image's header may declare (8192²); the API may set fewer (MAX_INPUT_IMAGE_PIXELS). */
  maxInputPixels: 8192 * 8192,
  /** Widest mask blur, in pixels. */
  maxMaskBlur: 64,
} as const;

/** How an input image is fitted to the requested size. */
export const resizeModes = ['crop', 'fit', 'stretch'] as const;
export type ResizeMode = (typeof resizeModes)[number];

/** @defaultValue strength 0.8 for image-to-image (diffusers' default), 1 for inpainting (repaint the hole fully). */
export const DEFAULT_IMG2IMG_STRENGTH = 0.8;
export const DEFAULT_INPAINT_STRENGTH = 1;

/** Encoded image bytes (a Buffer or any Uint8Array). */
const imageBytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.byteLength > 0, {
  message: 'must be the bytes of a PNG, JPEG or WebP image (a Buffer / Uint8Array)',
});
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex sha256');

const side = z
  .number()
  .int()
  .min(requestLimits.minSide)
  .max(requestLimits.maxSide)
  .multipleOf(8, { message: 'must be a multiple of 8' });

/**
 * One generation, with the job's field names (snake_case, as the HTTP API
 * takes them). Omitted fields take the defaults in {@link resolveRequest}.
 */
/** Lone UTF-16 surrogates and NUL characters: not text, whatever the transport let through. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this refuses.
const notText = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|\u0000/;
const text = z
  .string()
  .max(requestLimits.maxPromptChars)
  .refine((s) => !notText.test(s), { message: 'must be valid Unicode text without NUL characters' });

/** `[height, width]` or `[top, left]` in pixels, as diffusers' SDXL size conditioning takes them. */
// An array of two rather than a tuple: JSON Schema draft 7 (the API's validator) has no `prefixItems`.
const pair = (min: number) =>
  z.array(z.number().int().min(min).max(16384)).length(2, { message: 'must be two integers' });

/** SDXL micro-conditioning (other models ignore it); defaults: the image's size, `[0, 0]`. Optional even once resolved. */
export const sdxlSizeFields = {
  original_size: pair(1).optional(),
  crops_coords_top_left: pair(0).optional(),
  target_size: pair(1).optional(),
};

export const generateRequestSchema = z.strictObject({
  prompt: text,
  negative_prompt: text.nullish(),
  width: side.optional(),
  height: side.optional(),
  steps: z.number().int().min(1).max(requestLimits.maxSteps).optional(),
  guidance_scale: z.number().min(0).max(requestLimits.maxGuidance).optional(),
  scheduler: z.enum(schedulerNames as unknown as [SchedulerName, ...SchedulerName[]]).optional(),
  karras: z.boolean().optional(),
  seed: z.number().int().min(0).max(MAX_SEED).optional(),
  num_images: z.number().int().min(1).max(requestLimits.maxImages).optional(),
  output_format: z.enum(['png', 'jpeg', 'webp']).optional(),
  ...sdxlSizeFields,
  /** Image-to-image / inpainting input (PNG, JPEG or WebP bytes). */
  image: imageBytes.optional(),
  /** Inpainting mask: white = repaint, black = keep (as diffusers). Needs `image`. */
  mask_image: imageBytes.optional(),
  /** 0 < strength ≤ 1: how far into the noise schedule the input is pushed. Needs `image`. */
  strength: z.number().gt(0).max(1).optional(),
  /** Gaussian blur of the mask, in pixels. Needs `mask_image`. */
  mask_blur: z.number().int().min(0).max(requestLimits.maxMaskBlur).optional(),
  resize_mode: z.enum(resizeModes).optional(),
  /**
   * The sha256 of `image` / `mask_image`, as a {@link ResolvedRequest} records
   * them: a resolved request passed back with its images is checked against them.
   */
  image_sha256: sha256Hex.optional(),
  mask_image_sha256: sha256Hex.optional(),
});

export type GenerateRequest = z.input<typeof generateRequestSchema>;
export type OutputFormat = 'png' | 'jpeg' | 'webp';

/** A request with every default filled in: what a generation actually ran with. */
export interface ResolvedRequest {
  readonly prompt: string;
  readonly negative_prompt: string;
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly guidance_scale: number;
  readonly scheduler: SchedulerName;
  readonly karras: boolean;
  readonly seed: number;
  readonly num_images: number;
  readonly output_format: OutputFormat;
  /** Image requests only: what the input was and how it was used. Never the bytes themselves. */
  readonly strength?: number;
  readonly mask_blur?: number;
  readonly resize_mode?: ResizeMode;
  readonly image_sha256?: string;
  readonly mask_image_sha256?: string;
  /** SDXL size conditioning, present when the request gave it (`[height, width]`, `[top, left]`). */
  readonly original_size?: readonly number[];
  readonly crops_coords_top_left?: readonly number[];
  readonly target_size?: readonly number[];
}

/** What kind of generation a request asks for. */
export type GenerationMode = 'text-to-image' | 'image-to-image' | 'inpainting';

export function generationMode(
  r: Pick<ResolvedRequest, 'image_sha256' | 'mask_image_sha256'>,
): GenerationMode {
  if (r.mask_image_sha256 !== undefined) return 'inpainting';
  return r.image_sha256 !== undefined ? 'image-to-image' : 'text-to-image';
}

/** The input images of a request, kept apart from the {@link ResolvedRequest} so they are never logged or queued. */
export interface RequestImages {
  readonly image?: Uint8Array;
  readonly mask_image?: Uint8Array;
}

/** Model-dependent defaults. */
export interface RequestDefaults {
  readonly size: number;
  readonly scheduler: SchedulerName;
  /** @defaultValue {@link DEFAULT_STEPS} (distilled models take fewer) */
  readonly steps?: number;
  /** @defaultValue {@link DEFAULT_GUIDANCE_SCALE} (0 for Turbo models, 5 for SDXL) */
  readonly guidance_scale?: number;
}

/** @defaultValue steps 20 and guidance 7.5, as AUTOMATIC1111 and most SD front-ends start. */
export const DEFAULT_STEPS = 20;
export const DEFAULT_GUIDANCE_SCALE = 7.5;

export function randomSeed(): number {
  return Math.floor(Math.random() * (MAX_SEED + 1));
}

function invalid(field: string, message: string): GiraffeError {
  return new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `${field}: ${message}`, {
    field,
    issues: [{ path: field, message }],
  });
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The header of an input image, refused when it is no image we read or when
 * it declares more than `maxPixels` (a decompression bomb): nothing decoded yet.
 */
export function checkInputImage(
  bytes: Uint8Array,
  field: string,
  maxPixels: number = requestLimits.maxInputPixels,
): ImageProbe {
  const probe = probeImage(bytes);
  if (!probe || probe.width < 1 || probe.height < 1) {
    throw new GiraffeError(
      'GIRAFFE_ERR_INPUT_IMAGE_INVALID',
      `${field}: not a PNG, JPEG or WebP image (${bytes.byteLength} bytes)`,
      { field },
    );
  }
  if (probe.width * probe.height > maxPixels) {
    throw new GiraffeError(
      'GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE',
      `${field}: the image declares ${probe.width}×${probe.height} pixels, more than the ${maxPixels} allowed`,
      { field, width: probe.width, height: probe.height, max_pixels: maxPixels },
    );
  }
  return probe;
}

const round8 = (v: number): number =>
  Math.min(requestLimits.maxSide, Math.max(requestLimits.minSide, Math.round(v / 8) * 8));

/**
 * The output size for an input image of `w0`×`h0`: the request's width and
 * height when given; one of them given → the other keeps the image's aspect;
 * neither → the image's own size, scaled down to fit `maxSide` and rounded
 * to a multiple of 8 (within the limits).
 */
export function sizeForImage(
  w0: number,
  h0: number,
  width: number | undefined,
  height: number | undefined,
): { width: number; height: number } {
  if (width !== undefined && height !== undefined) return { width, height };
  if (width !== undefined) return { width, height: round8((width * h0) / w0) };
  if (height !== undefined) return { width: round8((height * w0) / h0), height };
  const scale = Math.min(1, requestLimits.maxSide / Math.max(w0, h0));
  return { width: round8(w0 * scale), height: round8(h0 * scale) };
}

/** Validates a request and fills in defaults; bad input throws GIRAFFE_ERR_REQUEST_INVALID naming the field. */
export function resolveRequest(input: unknown, defaults: RequestDefaults): ResolvedRequest {
  return resolveRequestWithImages(input, defaults).request;
}

/**
 * {@link resolveRequest}, also handing back the input images' bytes (checked
 * against any `image_sha256` the request carries) for the pipeline to decode.
 */
export function resolveRequestWithImages(
  input: unknown,
  defaults: RequestDefaults,
): { request: ResolvedRequest; images: RequestImages } {
  const parsed = generateRequestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || '(request)';
    throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `${field}: ${issue.message}`, {
      field,
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  const r = parsed.data;
  const base = {
    prompt: r.prompt,
    negative_prompt: r.negative_prompt ?? '',
    steps: r.steps ?? defaults.steps ?? DEFAULT_STEPS,
    guidance_scale: r.guidance_scale ?? defaults.guidance_scale ?? DEFAULT_GUIDANCE_SCALE,
    scheduler: r.scheduler ?? defaults.scheduler,
    karras: r.karras ?? false,
    seed: r.seed ?? randomSeed(),
    num_images: r.num_images ?? 1,
    output_format: r.output_format ?? 'png',
    ...(r.original_size ? { original_size: r.original_size } : {}),
    ...(r.crops_coords_top_left ? { crops_coords_top_left: r.crops_coords_top_left } : {}),
    ...(r.target_size ? { target_size: r.target_size } : {}),
  };
  if (r.image === undefined) {
    for (const field of [
      'mask_image',
      'strength',
      'mask_blur',
      'resize_mode',
      'image_sha256',
      'mask_image_sha256',
    ] as const) {
      if (r[field] !== undefined) throw invalid(field, 'applies only to a request with an `image`');
    }
    return {
      request: { ...base, width: r.width ?? defaults.size, height: r.height ?? defaults.size },
      images: {},
    };
  }
  if (r.mask_image === undefined) {
    for (const field of ['mask_blur', 'mask_image_sha256'] as const) {
      if (r[field] !== undefined) throw invalid(field, 'applies only to a request with a `mask_image`');
    }
  }
  const probe = checkInputImage(r.image, 'image');
  if (r.mask_image !== undefined) checkInputImage(r.mask_image, 'mask_image');
  const imageSha = sha256Of(r.image);
  if (r.image_sha256 !== undefined && r.image_sha256 !== imageSha)
    throw invalid('image_sha256', `does not match the sha256 of \`image\` (${imageSha})`);
  const maskSha = r.mask_image === undefined ? undefined : sha256Of(r.mask_image);
  if (r.mask_image_sha256 !== undefined && r.mask_image_sha256 !== maskSha)
    throw invalid('mask_image_sha256', `does not match the sha256 of \`mask_image\` (${maskSha})`);
  const shown = orientedSize(probe);
  const size = sizeForImage(shown.width, shown.height, r.width, r.height);
  const inpaint = r.mask_image !== undefined;
  const request: ResolvedRequest = {
    ...base,
    ...size,
    strength: r.strength ?? (inpaint ? DEFAULT_INPAINT_STRENGTH : DEFAULT_IMG2IMG_STRENGTH),
    ...(inpaint ? { mask_blur: r.mask_blur ?? 0 } : {}),
    resize_mode: r.resize_mode ?? 'crop',
    image_sha256: imageSha,
    ...(maskSha !== undefined ? { mask_image_sha256: maskSha } : {}),
  };
  return { request, images: { image: r.image, ...(r.mask_image ? { mask_image: r.mask_image } : {}) } };
}

/**
 * What `generate()` takes: a request, or a resolved one (what a result or a job record holds,
 * to make the same images again) with the input images' bytes beside it.
 */
export type PipelineRequest =
  GenerateRequest | (ResolvedRequest & { readonly image?: Uint8Array; readonly mask_image?: Uint8Array });
