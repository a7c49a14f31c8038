import { z } from 'zod';
import { errorCatalogue, type ErrorCode } from '../errors';
import { jobStatuses } from '../jobs';
import { editRequestFields, jobRequestObject } from '../jobs/job-request';
import { sdxlSizeFields } from '../pipeline/contract';

/*
 * Response schemas: what the routes send, validated and serialised by the
 * zod serializer and documented in the OpenAPI document from the same
 * source. Objects are loose (`additionalProperties: {}` in the document): a
 * field added to the job record shows up in responses before anyone updates
 * these schemas, and clients are told to expect new fields. `id` metadata
 * makes a schema a named component of the document.
 */

/** An RFC 9457 problem: the body of every 4xx and 5xx this API sends on purpose. */
export const problemSchema = z
  .looseObject({
    type: z.string().describe('`urn:giraffe:error:<code>`'),
    title: z.string().describe('Short summary of the error kind; the same for every occurrence of a code.'),
    status: z.number().int().min(400).max(599).describe('The HTTP status, repeated.'),
    detail: z.string().describe('What went wrong with this request.'),
    code: z.string().describe('Stable error code, `GIRAFFE_ERR_<AREA>_<PROBLEM>`; see docs/errors.md.'),
    errors: z
      .array(
        z.looseObject({
          path: z.string().describe('Dotted path of the field, e.g. `width`; empty for the whole input.'),
          message: z.string(),
        }),
      )
      .optional()
      .describe('Field-level problems of a validation error.'),
  })
  .meta({ id: 'Problem', description: 'An RFC 9457 problem (`application/problem+json`).' });

export const problemMediaType = 'application/problem+json';

interface ProblemResponse {
  readonly description: string;
  readonly content: { readonly [problemMediaType]: { readonly schema: typeof problemSchema } };
}

type StatusOf<C extends ErrorCode> = (typeof errorCatalogue)[C]['status'];

/**
 * Problem responses for the error codes a route can answer with, keyed by
 * the status the error catalogue gives each code (the catalogue stays the one
 * place that maps codes to statuses); the description lists the codes.
 */
export function problemResponses<const C extends readonly ErrorCode[]>(
  ...codes: C
): { readonly [K in C[number] as StatusOf<K>]: ProblemResponse } {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = errorCatalogue[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, ProblemResponse> = {};
  for (const [status, group] of byStatus) {
    responses[status] = {
      description: group.map((c) => `${errorCatalogue[c].title} (\`${c}\`)`).join('; '),
      content: { [problemMediaType]: { schema: problemSchema } },
    };
  }
  return responses as { readonly [K in C[number] as StatusOf<K>]: ProblemResponse };
}

/**
 * A JSON response with its own description; the schema itself stays a
 * reference to its component (`.describe()` would make an unnamed copy).
 */
export const jsonResponse = <S extends z.ZodType>(
  schema: S,
  description: string,
): {
  readonly description: string;
  readonly content: { readonly 'application/json': { readonly schema: S } };
} => ({
  description,
  content: { 'application/json': { schema } },
});

/** Errors any authenticated route can answer with (every one of them reads the queue: Redis may be down). */
export const commonProblems = [
  'GIRAFFE_ERR_AUTH_REQUIRED',
  'GIRAFFE_ERR_QUEUE_UNAVAILABLE',
  'GIRAFFE_ERR_INTERNAL',
] as const;

// Documented as date-time, not enforced: a response never fails over a timestamp's spelling.
const isoTime = z.string().meta({ format: 'date-time', description: 'ISO 8601 time (UTC).' });
const count = z.number().int().min(0);
const sdxlSizeOmitted = { original_size: true, crops_coords_top_left: true, target_size: true } as const;

/**
 * The request a job runs with: the submitted request with every default
 * filled in and the seed fixed (the API's request schema, every field required).
 */
const inputImageRefSchema = z.looseObject({
  sha256: z.string(),
  bytes: count,
  width: count,
  height: count,
  content_type: z.string(),
});

const resolvedRequestSchema = jobRequestObject
  .omit({
    model: true,
    webhook_url: true,
    webhook_events: true,
    webhook_include_prompt: true,
    // A resolved request never carries image bytes; the edit fields appear only on image requests.
    image: true,
    mask_image: true,
    strength: true,
    mask_blur: true,
    resize_mode: true,
    ...sdxlSizeOmitted,
  })
  .required()
  .extend(sdxlSizeFields)
  .extend({
    image: inputImageRefSchema
      .optional()
      .describe('The input image: its hash, size and dimensions (never the bytes).'),
    mask_image: inputImageRefSchema.optional().describe('The mask: its hash, size and dimensions.'),
    strength: editRequestFields.strength,
    mask_blur: z.number().int().min(0).optional(),
    resize_mode: editRequestFields.resize_mode,
    image_sha256: z.string().optional().describe('SHA-256 of the input image (hex).'),
    mask_image_sha256: z.string().optional().describe('SHA-256 of the mask (hex).'),
  })
  .loose()
  .meta({
    id: 'ResolvedRequest',
    description: 'The request with every default filled in and the seed fixed.',
  });

const jobImageSchema = z.looseObject({
  index: count.describe('Position in the job, from 0.'),
  content_type: z.string().describe('`image/png`, `image/jpeg` or `image/webp`.'),
  bytes: count,
  url: z.string().describe('Where the image bytes are: `/v1/jobs/{id}/images/{index}`.'),
});

const jobResultSchema = z.looseObject({
  images: z.array(jobImageSchema),
  seed: count,
  width: count,
  height: count,
  parameters: z
    .string()
    .describe('AUTOMATIC1111-style infotext (also in each PNG as a `parameters` text chunk).'),
  timings: z
    .record(z.string(), z.number())
    .describe('Milliseconds per stage (`*_ms`) and counters such as `unet_calls`; the set of keys may grow.'),
});

const jobProgressSchema = z.looseObject({
  step: count,
  steps: count,
  elapsed_ms: z.number().min(0),
  eta_ms: z.number().min(0).describe('Estimated time to the last step, from the mean step time so far.'),
  resumed_from_step: count
    .optional()
    .describe(
      'Set when this attempt resumed the checkpoint of a worker that was killed or stopped: the steps it took over.',
    ),
});

const jobErrorSchema = z.looseObject({
  code: z.string().describe('A `GIRAFFE_ERR_*` code; see docs/errors.md.'),
  message: z.string(),
});

/** A job as the API shows it (`jobView`): the record without its owner, plus links and its queue position. */
export const jobViewSchema = z
  .looseObject({
    id: z.string(),
    model: z.string(),
    status: z.enum(jobStatuses).describe('`queued → running → succeeded | failed | canceled`.'),
    request: resolvedRequestSchema,
    seed: count.describe(
      'The seed the job runs with (also `request.seed`); random when the request gave none.',
    ),
    priority: z.number().int().describe('1 is the first; lower runs sooner.'),
    created_at: isoTime,
    started_at: isoTime.optional(),
    finished_at: isoTime.optional(),
    attempts: count.describe('Attempts started so far (a retry or a stalled-job recovery starts another).'),
    worker: z.string().optional().describe('The worker running or that ran the job.'),
    position: count.optional().describe('Place in the queue while the job waits (0 is next).'),
    progress: jobProgressSchema.optional(),
    result: jobResultSchema.optional().describe('Present once the job has succeeded.'),
    error: jobErrorSchema.optional().describe('Present when the job has failed.'),
    stream_token: z
      .string()
      .optional()
      .describe(
        "Only when the job is created: a short-lived token that opens this job's progress stream (`?token=`).",
      ),
    stream_token_expires_at: isoTime.optional(),
    links: z.looseObject({
      self: z.string(),
      stream: z
        .string()
        .describe('WebSocket progress stream (`ws://…`): events as JSON text, previews as binary frames.'),
      events: z.string().describe('The same stream as Server-Sent Events.'),
      images: z.array(z.string()),
    }),
  })
  .meta({ id: 'Job', description: 'A job: its request, state, progress, result and links.' });

/**
 * The job view's type. `jobView` returns a loose record; the routes assert
 * this type and the zod serializer checks the shape on every response.
 */
export type JobView = z.output<typeof jobViewSchema>;

/** `DELETE /v1/jobs/{id}`: the job after the cancel, and what the cancel did. */
export const canceledJobSchema = z
  .intersection(
    jobViewSchema,
    z.looseObject({
      cancel: z
        .enum(['canceled', 'cancel_requested'])
        .describe(
          '`canceled`: it was waiting and is gone from the queue. `cancel_requested`: it is running and stops at the next step.',
        ),
    }),
  )
  .meta({ id: 'CanceledJob', description: 'A job after `DELETE`, with the outcome of the cancel.' });

export const jobListSchema = z.looseObject({
  jobs: z.array(jobViewSchema).describe("The caller's jobs, most recent first."),
});

const modelDefaultsSchema = z.looseObject({
  width: count,
  height: count,
  steps: count,
  guidance_scale: z.number(),
  scheduler: z.string(),
});

export const modelListSchema = z.looseObject({
  models: z.array(
    z
      .looseObject({
        id: z.string().describe('The name to pass as `model`.'),
        workers: count.describe('Workers serving the model right now (0: on disk, no worker yet).'),
        served: z
          .boolean()
          .describe(
            'A live worker serves it now. When false, a job for it is refused with 503 and Retry-After.',
          ),
        loaded: z
          .boolean()
          .describe(
            'A worker has it loaded in memory now. The embedded worker loads a model on its first job (and may ' +
              'unload it for another within MODEL_MEMORY_BUDGET_MB), so its first job takes longer.',
          ),
        defaults: modelDefaultsSchema.describe('Request defaults for this model.'),
        schedulers: z.array(z.string()),
        precision: z.string().optional().describe('`float32` or `float16`, once a worker has loaded it.'),
        device: z.array(z.string()).optional().describe('Execution devices of the workers serving it.'),
        modes: z
          .array(z.enum(['text-to-image', 'image-to-image', 'inpainting']))
          .optional()
          .describe('What the model can do; absent when neither its directory nor a worker says.'),
        modes_unsupported: z
          .record(z.string(), z.string())
          .optional()
          .describe('Each mode the model cannot do, with the reason (e.g. no `vae_encoder`).'),
        unet_in_channels: count.optional().describe('4 for ordinary models, 9 for inpainting models.'),
      })
      .meta({ id: 'Model' }),
  ),
  default: z.string().describe('The model used when a request names none.'),
  object: z.literal('list').describe("OpenAI's list marker: `models.list()` of an OpenAI SDK reads `data`."),
  data: z
    .array(
      z
        .looseObject({
          id: z.string(),
          object: z.literal('model'),
          created: count,
          owned_by: z.string(),
          alias_of: z.string().optional().describe('An OPENAI_MODEL_ALIASES name: the model it runs on.'),
        })
        .meta({ id: 'OpenAIModel' }),
    )
    .describe("The served models (and their aliases) as OpenAI's `Model` objects."),
});

export const healthSchema = z.looseObject({ status: z.literal('ok') });

export const readinessSchema = z
  .looseObject({
    status: z.enum(['ready', 'not_ready']),
    queue: z.enum(['up', 'down']).describe('Whether the job queue (Redis, or in-process) answers.'),
    workers: count.describe('Workers alive.'),
    default_model: z.string(),
    workers_for_default_model: count,
  })
  .meta({ id: 'Readiness' });

/** Image bytes: never serialised by a schema (a Buffer is sent as it is), documented as binary content. */
export const imageBytes = (mediaType: string): z.ZodType<Buffer> =>
  z
    .custom<Buffer>((v) => Buffer.isBuffer(v))
    .meta({ type: 'string', contentMediaType: mediaType, description: `${mediaType} bytes.` });
