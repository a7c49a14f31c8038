import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { jobRequestSchema, isFinal, type JobRequest } from '../../jobs';
import { jobView } from '../job-view';
import { commonProblems, jsonResponse, jobViewSchema, problemResponses, type JobView } from '../schemas';
import { submitJob } from '../submit-job';
import { webhookOfRequest } from '../webhook-destination';
import { acceptMultipart, type MultipartFields } from '../multipart-body';

/** `POST /v1/generate` as a form: which parts are files, which text stays text. */
const generateMultipartFields: MultipartFields = {
  files: ['image', 'mask_image'],
  strings: new Set([
    'prompt',
    'negative_prompt',
    'scheduler',
    'output_format',
    'model',
    'webhook_url',
    'resize_mode',
  ]),
  arrays: new Set(['webhook_events']),
};
import { waitForJob } from '../wait-for-job';

/** `?wait=true` holds the request until the job ends, at most this long. */
const MAX_WAIT_S = 300;

const querySchema = z.strictObject({
  wait: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
  timeout: z.coerce.number().int().min(1).max(MAX_WAIT_S).optional(),
});

/**
 * `POST /v1/generate` (also `/generate`): validates the request, fills in the
 * model's defaults and a seed, enqueues it and answers 202 with the job, its
 * place in the queue and its links. `?wait=true` answers with the finished
 * job instead (or the job as it stands when `timeout` seconds run out).
 */
export const generateRoutes: FastifyPluginAsyncZod = async (app) => {
  const maxImageBytes = app.giraffe.config.MAX_INPUT_IMAGE_BYTES;
  // `curl -F prompt=… -F image=@photo.png`: the same fields as form parts.
  await acceptMultipart(app, generateMultipartFields, maxImageBytes);
  // JSON may carry two images in base64 (4/3 of their size) besides the few kilobytes of the rest.
  const bodyLimit = 2 * Math.ceil((maxImageBytes * 4) / 3) + 128 * 1024;
  const handler = async (
    request: FastifyRequest<{ Body: JobRequest; Querystring: z.infer<typeof querySchema> }>,
    reply: FastifyReply,
  ): Promise<JobView> => {
    const { driver, config } = app.giraffe;
    const {
      model: requested,
      webhook_url,
      webhook_events,
      webhook_include_prompt,
      image,
      mask_image,
      strength,
      mask_blur,
      resize_mode,
      ...generation
    } = request.body;
    const webhook = webhookOfRequest({ webhook_url, webhook_events, webhook_include_prompt });
    const { job, position, replayed } = await submitJob(
      app,
      request,
      requested ?? config.DEFAULT_MODEL,
      generation,
      request.body,
      webhook,
      { image, mask_image, strength, mask_blur, resize_mode },
    );
    if (replayed) reply.header('idempotent-replayed', 'true');

    if (request.query.wait) {
      const timeoutMs = (request.query.timeout ?? 60) * 1000;
      const closed = new AbortController();
      request.raw.once('close', () => closed.abort());
      const finished = (await waitForJob(driver, job.id, timeoutMs, closed.signal)) ?? job;
      reply.code(isFinal(finished.status) ? 200 : 202).header('location', `/v1/jobs/${job.id}`);
      return jobView(finished) as JobView;
    }
    const stream = app.giraffe.streamTokens.issue(job.id, request.owner);
    reply.code(202).header('location', `/v1/jobs/${job.id}`);
    return {
      ...jobView(job, position),
      stream_token: stream.token,
      stream_token_expires_at: stream.expires_at,
    } as JobView;
  };
  const schema = {
    tags: ['jobs'],
    headers: z.looseObject({
      'idempotency-key': z.string().optional().meta({
        description:
          'A retry with the same key and body returns the same job; the same key with another body is a 409.',
      }),
    }),
    summary: 'Create a generation job',
    description:
      "Validates the request, fills in the model's defaults and a seed, and queues the job: `202` with the job, " +
      'its place in the queue and its links. Image-to-image: send `image` (and `strength`); inpainting: `image` ' +
      'and `mask_image`, as base64 or data URLs in JSON, or as file parts of a `multipart/form-data` body ' +
      '(the other fields as text parts). ' +
      '`Location` names the job. With `?wait=true` the request is held ' +
      'until the job ends (`200`), or answers `202` with the job as it stands when `timeout` seconds pass.',
    body: jobRequestSchema,
    // The same fields as a form: `image`/`mask_image` as file parts, the rest as text parts.
    consumes: ['application/json', 'multipart/form-data'],
    querystring: querySchema,
    response: {
      200: jsonResponse(jobViewSchema, '`?wait=true`: the job ended (succeeded, failed or canceled).'),
      202: jsonResponse(
        jobViewSchema,
        'The job is queued (or, with `?wait=true`, still running when `timeout` ran out).',
      ),
      ...problemResponses(
        'GIRAFFE_ERR_REQUEST_INVALID',
        'GIRAFFE_ERR_REQUEST_MALFORMED',
        'GIRAFFE_ERR_MODEL_UNKNOWN',
        'GIRAFFE_ERR_INPUT_IMAGE_INVALID',
        'GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE',
        'GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED',
        'GIRAFFE_ERR_MODEL_UNSERVED',
        'GIRAFFE_ERR_WEBHOOKS_DISABLED',
        'GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED',
        'GIRAFFE_ERR_IDEMPOTENCY_CONFLICT',
        'GIRAFFE_ERR_IDEMPOTENCY_IN_PROGRESS',
        'GIRAFFE_ERR_RATE_LIMITED',
        'GIRAFFE_ERR_QUEUE_FULL',
        'GIRAFFE_ERR_TOO_MANY_JOBS',
        'GIRAFFE_ERR_REQUEST_TOO_LARGE',
        'GIRAFFE_ERR_UNSUPPORTED_MEDIA_TYPE',
        ...commonProblems,
      ),
    },
  };
  app.post('/v1/generate', { bodyLimit, schema: { ...schema, operationId: 'createJob' } }, handler);
  app.post(
    '/generate',
    {
      bodyLimit,
      schema: { ...schema, operationId: 'createJobShort', summary: 'Create a generation job (short path)' },
    },
    handler,
  );
};
