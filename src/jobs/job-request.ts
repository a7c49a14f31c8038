import { z } from 'zod';
// The request contract alone (pure zod): the pipeline's index would load onnxruntime into every API process.
import {
  generateRequestSchema,
  requestLimits,
  resizeModes,
  type ResolvedRequest,
} from '../pipeline/generate-request';

/** Model ids are directory names under MODELS_DIR (or `demo`): no paths. */
export const modelIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a model name: letters, digits, ".", "_" and "-"');

/** The input images a job request may carry, by field name. */
export const inputImageNames = ['image', 'mask_image'] as const;
export type InputImageName = (typeof inputImageNames)[number];

/**
 * What a job record says about one of its input images. The bytes themselves
 * are stored once, beside the job's results (`ResultStore.putInput`), never in
 * the record, its events or log lines.
 */
export interface InputImageRef {
  /** SHA-256 (hex) of the stored bytes. */
  readonly sha256: string;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  /** `image/png`, `image/jpeg` or `image/webp`. */
  readonly content_type: string;
}

/**
 * What a queued job carries: the request with every default filled in and the
 * seed fixed (for an edit: strength, mask blur, resize mode and the inputs'
 * sha256, as the pipeline resolves them), plus a reference to each input
 * image; the bytes are stored beside the job's results.
 */
export type ResolvedJobRequest = ResolvedRequest & {
  readonly image?: InputImageRef;
  readonly mask_image?: InputImageRef;
};

/**
 * An input image as JSON carries it: base64 (standard or URL-safe alphabet,
 * padding optional) or a `data:image/...;base64,` URL; as a multipart file part
 * it arrives as bytes. Decoded, probed and bounded by the API
 * (MAX_INPUT_IMAGE_BYTES, MAX_INPUT_IMAGE_PIXELS) before anything is queued.
 */
const inputImageField = z
  .union([
    z.string().min(1).meta({
      description: 'The image file, base64 or a `data:image/…;base64,` URL (PNG, JPEG or WebP).',
    }),
    z
      .custom<Buffer>((v) => Buffer.isBuffer(v))
      .meta({
        type: 'string',
        contentMediaType: 'application/octet-stream',
        description: 'A multipart file part.',
      }),
  ])
  .optional();

/** The fields of image-to-image and inpainting, as clients send them. */
export const editRequestFields = {
  image: inputImageField.describe(
    'Image-to-image and inpainting: the starting picture (PNG, JPEG or WebP), base64, a data URL or a multipart file.',
  ),
  mask_image: inputImageField.describe(
    'Inpainting: white = repaint, black = keep (resized to the image). Needs `image`.',
  ),
  strength: z
    .number()
    .gt(0)
    .max(1)
    .optional()
    .describe('0 < s ≤ 1: how much of the image is repainted. Default 0.8 (image-to-image), 1 (inpainting).'),
  mask_blur: z
    .number()
    .int()
    .min(0)
    .max(requestLimits.maxMaskBlur)
    .optional()
    .describe('Mask edge blur in pixels. Default 0.'),
  resize_mode: z
    .enum(resizeModes)
    .optional()
    .describe(
      'How the image is fitted to width×height: `crop` (default), `fit` (padding) or `stretch`. Without width/height the image keeps its size, rounded to a multiple of 8.',
    ),
};

/** What a job may report to its webhook. `completed`: the job ended (succeeded, failed or canceled). */
export const webhookEventTypes = ['started', 'progress', 'completed'] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** Longest `webhook_url` accepted. */
export const MAX_WEBHOOK_URL_CHARS = 2048;

/**
 * Why `url` cannot be a webhook destination, or undefined when its shape is
 * fine: `http:` or `https:`, a host, no user name or password (they would be
 * logged and sent in the clear), at most 2048 characters. Where the host
 * points (public or private addresses) is checked at delivery, when the
 * worker resolves it.
 */
export function webhookUrlProblem(url: string): string | undefined {
  if (url.length > MAX_WEBHOOK_URL_CHARS) return `must be at most ${MAX_WEBHOOK_URL_CHARS} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an absolute URL';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return 'must be an http or https URL';
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password';
  if (parsed.hostname === '') return 'must name a host';
  return undefined;
}

/**
 * The webhook fields of a job request, meant to be spread into
 * {@link jobRequestSchema} once the job record can carry them (see
 * `webhookSubscriptionOf`). `webhook_events` defaults to `['completed']`.
 */
export const webhookRequestFields = {
  webhook_url: z
    .string()
    .max(MAX_WEBHOOK_URL_CHARS)
    .superRefine((url, ctx) => {
      const problem = webhookUrlProblem(url);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  webhook_events: z
    .array(z.enum(webhookEventTypes))
    .min(1)
    .max(webhookEventTypes.length)
    .refine((events) => new Set(events).size === events.length, { message: 'must not repeat an event' })
    .optional(),
  /** Webhook bodies leave the prompts out (receivers' logs are not ours) unless this is true. */
  webhook_include_prompt: z.boolean().optional(),
};

/** Where a job's webhooks go and which of its events are sent. */
export interface WebhookSubscription {
  readonly url: string;
  readonly events: readonly WebhookEventType[];
  /** Whether deliveries show the prompt and negative prompt (`webhook_include_prompt`). @defaultValue false */
  readonly include_prompt?: boolean;
}

/** The subscription a request asks for (events default to `completed`), or undefined when it names no `webhook_url`. */
export function webhookSubscriptionOf(fields: {
  readonly webhook_url?: string;
  readonly webhook_events?: readonly WebhookEventType[];
  readonly webhook_include_prompt?: boolean;
}): WebhookSubscription | undefined {
  if (fields.webhook_url === undefined) return undefined;
  return {
    url: fields.webhook_url,
    events: [...(fields.webhook_events ?? ['completed'])],
    ...(fields.webhook_include_prompt ? { include_prompt: true } : {}),
  };
}

/**
 * A generation job as clients submit it: the pipeline's request plus the
 * model to run it on. Shared by the API (validation at the edge) and the
 * worker (which trusts nothing it reads back from the queue).
 */
export const jobRequestObject = generateRequestSchema
  // The pipeline checks passed-back images against these; clients send images, the API hashes them.
  .omit({ image_sha256: true, mask_image_sha256: true })
  .extend({
    model: modelIdSchema.optional(),
    ...webhookRequestFields,
    ...editRequestFields,
  });

/** {@link jobRequestObject} with the checks across fields (a mask needs an image …). */
export const jobRequestSchema = jobRequestObject.superRefine((request, ctx) => {
  if (request.mask_image !== undefined && request.image === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['mask_image'],
      message: 'needs `image`: a mask says which part of an image to repaint',
    });
  }
  for (const field of ['strength', 'mask_blur', 'resize_mode'] as const) {
    if (request[field] !== undefined && request.image === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: 'applies to image edits only: send `image` too',
      });
    }
  }
  if (request.mask_blur !== undefined && request.mask_image === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['mask_blur'],
      message: 'applies to inpainting only: send `mask_image` too',
    });
  }
});
export type JobRequest = z.input<typeof jobRequestSchema>;
