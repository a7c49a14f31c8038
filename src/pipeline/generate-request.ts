import { z } from 'zod';
import { GiraffeError } from '../errors';
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
} as const;

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
  /** SDXL size conditioning, present when the request gave it (`[height, width]`, `[top, left]`). */
  readonly original_size?: readonly number[];
  readonly crops_coords_top_left?: readonly number[];
  readonly target_size?: readonly number[];
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

/** Validates a request and fills in defaults; bad input throws GIRAFFE_ERR_REQUEST_INVALID naming the field. */
export function resolveRequest(input: unknown, defaults: RequestDefaults): ResolvedRequest {
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
  return {
    prompt: r.prompt,
    negative_prompt: r.negative_prompt ?? '',
    width: r.width ?? defaults.size,
    height: r.height ?? defaults.size,
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
}
