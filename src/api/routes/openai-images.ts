import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GiraffeError, errorCatalogue, type ErrorCode } from '../../errors';
import { modelIdSchema, type JobRecord } from '../../jobs';
import { generateRequestSchema, requestLimits } from '../../pipeline/contract';
import { acceptMultipart } from '../multipart-body';
import { openAiModelId } from '../openai-models';
import { submitJob } from '../submit-job';
import { openAiEdit, openAiEditMultipartFields } from './openai-edits';
import { waitForJob } from '../wait-for-job';
import {
  MISSING_PARAMETER,
  openAiError,
  openAiErrorFor,
  openAiErrorFromProblem,
  openAiErrorSchema,
  sendOpenAiError,
} from './openai-errors';

/** `WIDTHxHEIGHT`, each side a multiple of 8 within the pipeline's bounds. */
const sizeSchema = z.string().transform((text, ctx) => {
  if (text === 'auto') return 'auto' as const;
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(text);
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2]) : NaN;
  const ok = (side: number): boolean =>
    side >= requestLimits.minSide && side <= requestLimits.maxSide && side % 8 === 0;
  if (!ok(width) || !ok(height)) {
    ctx.addIssue({
      code: 'custom',
      input: text,
      message:
        `must be "auto" or "WIDTHxHEIGHT" with sides that are multiples of 8 from ` +
        `${requestLimits.minSide} to ${requestLimits.maxSide} (got "${text}")`,
    });
    return z.NEVER;
  }
  return { width, height };
});

const ext = generateRequestSchema.shape;

/**
 * The body of `POST /v1/images/generations`: OpenAI's `ImageGenerateParams`
 * plus giraffe's own knobs. OpenAI-only options we cannot honour are typed
 * and bounded but otherwise ignored, so SDK calls that set them still work.
 */
export const openAiImageRequestSchema = z.strictObject({
  prompt: z
    .string({ error: (issue) => (issue.input === undefined ? MISSING_PARAMETER : undefined) })
    .min(1)
    .max(requestLimits.maxPromptChars),
  model: modelIdSchema
    .nullish()
    .describe(
      'A model id of GET /v1/models, or an alias from OPENAI_MODEL_ALIASES; omitted: the default model. ' +
        'Any other name (`dall-e-3` without an alias) is a 404 `model_not_found`.',
    ),
  n: z.number().int().min(1).max(requestLimits.maxImages).nullish().describe('Images to make. Default 1.'),
  size: sizeSchema
    .nullish()
    .describe("`auto` or `WIDTHxHEIGHT`, sides multiples of 8 from 64 to 2048. Default: the model's size."),
  response_format: z.enum(['url', 'b64_json']).nullish().describe('Default `url`.'),
  output_format: z.enum(['png', 'jpeg', 'webp']).nullish(),
  // Accepted and ignored: no equivalent in a Stable Diffusion pipeline.
  quality: z.enum(['standard', 'hd', 'low', 'medium', 'high', 'auto']).nullish(),
  style: z.enum(['vivid', 'natural']).nullish(),
  user: z.string().max(256).nullish(),
  background: z.enum(['transparent', 'opaque', 'auto']).nullish(),
  moderation: z.enum(['low', 'auto']).nullish(),
  output_compression: z.number().int().min(0).max(100).nullish(),
  partial_images: z.number().int().min(0).max(3).nullish(),
  // The SDK always sends `stream: false`; streaming has its own giraffe routes.
  stream: z
    .literal(false, {
      error: 'streaming is not supported here; follow a job with GET /v1/jobs/:id/events instead',
    })
    .nullish(),
  // giraffe extensions, validated exactly as POST /v1/generate validates them.
  negative_prompt: ext.negative_prompt,
  steps: ext.steps,
  guidance_scale: ext.guidance_scale,
  scheduler: ext.scheduler,
  seed: ext.seed,
});
export type OpenAiImageRequest = z.output<typeof openAiImageRequestSchema>;

const imageFile = (description: string) =>
  z
    .custom<Buffer | string>((v) => Buffer.isBuffer(v) || (typeof v === 'string' && v.length > 0), {
      error: (issue) => (issue.input === undefined ? MISSING_PARAMETER : 'must be an image file'),
    })
    .meta({ type: 'string', contentMediaType: 'application/octet-stream', description });

/**
 * The form of `POST /v1/images/edits`: OpenAI's `ImageEditParams` (the SDK
 * sends `multipart/form-data`) plus giraffe's knobs. `image` and `mask` are
 * file parts (or base64 text); OpenAI-only options are accepted and ignored.
 */
export const openAiEditRequestSchema = openAiImageRequestSchema
  .omit({ style: true, moderation: true })
  .extend({
    image: imageFile(
      'The picture to edit (PNG, JPEG or WebP). Without `mask`, its fully transparent pixels are the area to ' +
        'edit; an opaque image is varied as a whole (image-to-image).',
    ),
    mask: imageFile(
      "A PNG whose fully transparent pixels mark the area to edit (OpenAI's meaning); resized to the image.",
    ).nullish(),
    input_fidelity: z.enum(['high', 'low']).nullish(),
    strength: z
      .number()
      .gt(0)
      .max(1)
      .nullish()
      .describe('giraffe: 0 < s ≤ 1, how much is repainted. Default 0.8 without a mask, 1 with one.'),
  });
export type OpenAiEditRequest = z.output<typeof openAiEditRequestSchema>;

/** OpenAI's `ImagesResponse`, as much of it as applies to us. */
export const openAiImagesResponseSchema = z
  .object({
    created: z.number().int().describe('Unix seconds when the job was created.'),
    data: z.array(
      z.union([
        z.object({
          url: z.string().describe('Absolute URL of `GET /v1/jobs/:id/images/:n` (needs the key).'),
        }),
        z.object({ b64_json: z.string().describe('The image file, base64.') }),
      ]),
    ),
    output_format: z.enum(['png', 'jpeg', 'webp']),
    size: z.string().describe('`WIDTHxHEIGHT` of the images.'),
  })
  .meta({ id: 'OpenAIImagesResponse', description: "OpenAI's ImagesResponse." });
export type OpenAiImagesResponse = z.output<typeof openAiImagesResponseSchema>;

/** One generated image as OpenAI returns it. */
export type OpenAiImage = OpenAiImagesResponse['data'][number];

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const envelope = (description: string) => json(openAiErrorSchema, description);

/** Options of {@link openAiImageRoutes}. */
export interface OpenAiImageRoutesOptions {
  /**
   * How long a request waits for its job before giving up (504) and canceling
   * it, in ms. OpenAI answers synchronously and its SDK waits up to 10 minutes.
   * @defaultValue `300000` (5 minutes)
   */
  readonly waitTimeoutMs?: number;
}

const DEFAULT_WAIT_MS = 300_000;

/** Headers that identify the job behind a response, which OpenAI's body has no place for. */
const JOB_ID_HEADER = 'x-giraffe-job-id';
const SEED_HEADER = 'x-giraffe-seed';

/**
 * `POST /v1/images/generations`: the OpenAI Images API over giraffe's jobs,
 * so `new OpenAI({ baseURL: '…/v1' }).images.generate()` works unchanged. It
 * enqueues a job as `POST /v1/generate` does, waits for it, and answers in
 * OpenAI's shape; every error on `/v1/images/*` uses OpenAI's error envelope
 * instead of problem+json.
 */
export const openAiImageRoutes: FastifyPluginAsyncZod<OpenAiImageRoutesOptions> = async (app, opts) => {
  const waitMs = opts.waitTimeoutMs ?? DEFAULT_WAIT_MS;

  // A prefixed child context: its error handler, onSend hook and not-found
  // handler apply to /v1/images/* only; the rest of the API keeps problem+json.
  const scoped: FastifyPluginAsyncZod = async (scope) => {
    scope.setErrorHandler((error: FastifyError, request, reply) => {
      const response = openAiErrorFor(error);
      if (response.status >= 500) request.log.error({ err: error }, 'request failed');
      return sendOpenAiError(reply, response);
    });

    // The API-key check is a global onRequest hook that replies with
    // problem+json itself (no error is thrown, so the error handler never
    // sees it). Rewrite such bodies here, keeping status and headers
    // (WWW-Authenticate, Retry-After), rather than teach auth about OpenAI.
    scope.addHook('onSend', async (_request, reply, payload) => {
      const type = reply.getHeader('content-type');
      if (typeof type !== 'string' || !type.startsWith('application/problem+json')) return payload;
      if (typeof payload !== 'string') return payload;
      reply.type('application/json; charset=utf-8');
      return JSON.stringify(openAiErrorFromProblem(reply.statusCode, payload));
    });

    scope.setNotFoundHandler((request, reply) =>
      sendOpenAiError(
        reply,
        openAiError(
          404,
          `${request.method} ${request.url.split('?')[0]} is not supported here; ` +
            'giraffe serves POST /v1/images/generations and POST /v1/images/edits',
          { code: 'not_found' },
        ),
      ),
    );

    const schema = {
      tags: ['openai'],
      operationId: 'createImage',
      summary: 'Create images (OpenAI Images API)',
      description:
        "OpenAI's `POST /v1/images/generations`, so OpenAI SDKs work unchanged: queues a job as " +
        '`POST /v1/generate` does, waits for it (up to 5 minutes) and answers with the images as URLs or ' +
        'base64. OpenAI model names run only where OPENAI_MODEL_ALIASES maps them; OpenAI-only options are ' +
        'accepted and ignored. ' +
        'The job id and seed are in the `x-giraffe-job-id` and `x-giraffe-seed` headers. Errors use ' +
        "OpenAI's envelope, not problem+json.",
      body: openAiImageRequestSchema,
      response: {
        200: json(openAiImagesResponseSchema, 'The finished images.'),
        400: envelope(
          'Invalid request (`param` names the field), or the job failed on its input or was canceled.',
        ),
        401: envelope('Missing or invalid API key (`code: invalid_api_key`).'),
        404: envelope('The model is not served here (`code: model_not_found`).'),
        413: envelope('Request body too large.'),
        415: envelope('Not a JSON body.'),
        500: envelope('The job failed, or the server did.'),
        503: envelope(
          'The queue is unavailable, or no worker serves the model now; retry after `Retry-After` seconds.',
        ),
        504: envelope('The job did not finish in time and was canceled.'),
      },
    };
    scope.post('/generations', { schema }, async (request, reply) =>
      generate(request.body, request, reply, waitMs),
    );

    // Edits take multipart (as OpenAI's SDK sends them); only this nested scope parses it.
    const edits: FastifyPluginAsyncZod = async (editScope) => {
      const maxBytes = app.giraffe.config.MAX_INPUT_IMAGE_BYTES;
      await acceptMultipart(editScope, openAiEditMultipartFields, maxBytes);
      editScope.post(
        '/edits',
        {
          bodyLimit: 2 * Math.ceil((maxBytes * 4) / 3) + 128 * 1024,
          schema: {
            ...schema,
            operationId: 'createImageEdit',
            summary: 'Edit an image (OpenAI Images API)',
            description:
              "OpenAI's `POST /v1/images/edits` (multipart), so `images.edit()` of OpenAI SDKs works unchanged. " +
              'With `mask`, its fully transparent pixels are repainted (inpainting); without one, the fully ' +
              'transparent pixels of `image` are, and an opaque image is varied as a whole (image-to-image, ' +
              '`strength` 0.8 unless given). Waits for the job and answers as `POST /v1/images/generations` does.',
            body: openAiEditRequestSchema,
            consumes: ['multipart/form-data'],
          },
        },
        async (request, reply) => edit(request.body, request, reply, waitMs),
      );
    };
    await scope.register(edits);
  };
  await app.register(scoped, { prefix: '/v1/images' });

  async function generate(
    body: OpenAiImageRequest,
    request: FastifyRequest,
    reply: FastifyReply,
    timeoutMs: number,
  ): Promise<FastifyReply> {
    const { config } = app.giraffe;
    const modelId = openAiModelId(body.model, config);
    const { job } = await submitJob(app, request, modelId, jobFields(body), body);
    request.log.info(
      { job_id: job.id, model: modelId, user: body.user ?? undefined },
      'openai image job queued',
    );
    return answer(job, body.response_format ?? 'url', request, reply, timeoutMs);
  }

  /** The job fields an OpenAI request sets, the same for generations and edits. */
  function jobFields(body: OpenAiImageRequest | OpenAiEditRequest) {
    const size = body.size && body.size !== 'auto' ? body.size : undefined;
    return {
      prompt: body.prompt,
      negative_prompt: body.negative_prompt,
      steps: body.steps,
      guidance_scale: body.guidance_scale,
      scheduler: body.scheduler,
      seed: body.seed,
      num_images: body.n ?? undefined,
      width: size?.width,
      height: size?.height,
      output_format: body.output_format ?? undefined,
    };
  }

  /** `POST /v1/images/edits`: OpenAI's mask meaning turned into giraffe's, then as `generate`. */
  async function edit(
    body: OpenAiEditRequest,
    request: FastifyRequest,
    reply: FastifyReply,
    timeoutMs: number,
  ): Promise<FastifyReply> {
    const { config } = app.giraffe;
    const modelId = openAiModelId(body.model, config);
    const edit = await openAiEdit(body, {
      maxBytes: config.MAX_INPUT_IMAGE_BYTES,
      maxPixels: config.MAX_INPUT_IMAGE_PIXELS,
    });
    const { job } = await submitJob(
      app,
      request,
      modelId,
      jobFields(body),
      // Fingerprinted by the images' hashes (submitJob swaps `image`/`mask_image` for them).
      { ...body, image: edit.image, mask: undefined, mask_image: edit.mask_image },
      undefined,
      edit,
    );
    request.log.info(
      { job_id: job.id, model: modelId, user: body.user ?? undefined },
      'openai image edit job queued',
    );
    return answer(job, body.response_format ?? 'url', request, reply, timeoutMs);
  }

  /** Waits for a job the client waits for, and answers in OpenAI's shape. */
  async function answer(
    job: JobRecord,
    format: 'url' | 'b64_json',
    request: FastifyRequest,
    reply: FastifyReply,
    timeoutMs: number,
  ): Promise<FastifyReply> {
    const { driver } = app.giraffe;
    reply.header(JOB_ID_HEADER, job.id).header(SEED_HEADER, String(job.request.seed));

    // The client waits synchronously; if it hangs up, nobody will collect the images.
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    const finished = await waitForJob(driver, job.id, timeoutMs, gone.signal);
    if (!finished) {
      throw new GiraffeError('GIRAFFE_ERR_INTERNAL', `job ${job.id} disappeared while it was awaited`);
    }
    if (finished.status === 'succeeded') {
      return reply.code(200).send(await imagesResponse(request, finished, format));
    }
    return sendOpenAiError(reply, await unfinishedOutcome(finished, gone.signal.aborted, timeoutMs));
  }

  /** The 200 body of a succeeded job: URLs to our image route, or the bytes inline. */
  async function imagesResponse(
    request: FastifyRequest,
    job: JobRecord,
    format: 'url' | 'b64_json',
  ): Promise<OpenAiImagesResponse> {
    const images = job.result?.images ?? [];
    // Absolute, as OpenAI's are; built from how this client reached us.
    const base = `${request.protocol}://${request.host}/v1/jobs/${job.id}/images`;
    const data = await Promise.all(
      images.map(async (img): Promise<OpenAiImage> => {
        if (format === 'url') return { url: `${base}/${img.index}` };
        const stored = await app.giraffe.driver.results.get(job.id, img.index);
        if (!stored)
          throw new GiraffeError('GIRAFFE_ERR_IMAGE_NOT_FOUND', `job ${job.id} has no image ${img.index}`);
        return { b64_json: stored.data.toString('base64') };
      }),
    );
    return {
      created: Math.floor(Date.parse(job.created_at) / 1000),
      data,
      output_format: job.request.output_format,
      size: `${job.result?.width ?? job.request.width}x${job.result?.height ?? job.request.height}`,
    };
  }

  /** A job that did not succeed: failed, canceled, or still going when we stopped waiting. */
  async function unfinishedOutcome(
    job: JobRecord,
    clientLeft: boolean,
    timeoutMs: number,
  ): Promise<ReturnType<typeof openAiError>> {
    // The job already had its own retries; an SDK retry would only run it again.
    const noRetry = { 'x-should-retry': 'false' };
    if (job.status === 'failed') {
      const code = job.error?.code ?? 'GIRAFFE_ERR_GENERATION_FAILED';
      const status = code in errorCatalogue ? errorCatalogue[code as ErrorCode].status : 500;
      const message = `Image generation failed (job ${job.id}): ${job.error?.message ?? 'no reason given'}`;
      return { ...openAiError(status >= 500 ? 500 : 400, message, { code }), headers: noRetry };
    }
    if (job.status === 'canceled') {
      return {
        ...openAiError(400, `Job ${job.id} was canceled before it finished.`, {
          code: 'GIRAFFE_ERR_GENERATION_CANCELED',
        }),
        headers: noRetry,
      };
    }
    // Still queued or running: nobody waits for it any more, so free the worker.
    await app.giraffe.driver.queue.cancel(job.id);
    const why = clientLeft ? 'the client disconnected' : `it did not finish within ${timeoutMs / 1000} s`;
    return {
      ...openAiError(504, `Job ${job.id} was canceled: ${why}.`, { code: 'timeout' }),
      headers: noRetry,
    };
  }
};
