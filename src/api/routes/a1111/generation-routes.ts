import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { a1111ErrorSchema } from './a1111-errors';
import { img2imgRequestSchema, txt2imgRequestSchema } from './generation-request';
import { editFields } from './img2img-fields';
import type { A1111OptionsStore } from './options-store';
import { imageBodyLimit } from './png-info';
import { A1111_DEFAULTS, resolveCall } from './resolve-call';
import { runGeneration } from './run-generation';

/** Options of {@link a1111GenerationRoutes}. */
export interface A1111GenerationRoutesOptions {
  readonly store: A1111OptionsStore;
  /** How long a call waits for its job, in ms (A1111_WAIT_TIMEOUT_MS). */
  readonly waitTimeoutMs: number;
}

const imagesResponseSchema = z
  .object({
    images: z.array(z.string()).describe('The images, base64 (PNG carries its `parameters` text chunk).'),
    parameters: z.record(z.string(), z.unknown()).describe('The request, as understood.'),
    info: z
      .string()
      .describe(
        'JSON text: `seed`, `all_seeds`, `prompt`, `sampler_name`, `infotexts` … as A1111 writes it.',
      ),
  })
  .meta({
    id: 'A1111ImagesResponse',
    description: "AUTOMATIC1111's TextToImageResponse / ImageToImageResponse.",
  });

const json = <S extends z.ZodType>(schema: S, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const errorResponses = {
  401: json(a1111ErrorSchema, 'Missing or unknown API key (Basic with the key as password, or Bearer).'),
  409: json(a1111ErrorSchema, 'The job was interrupted (`POST /sdapi/v1/interrupt`) or canceled.'),
  422: json(a1111ErrorSchema, 'Invalid or unsupported field (`GIRAFFE_ERR_SDAPI_UNSUPPORTED` names it).'),
  500: json(a1111ErrorSchema, 'The job failed, or the server did.'),
  503: json(a1111ErrorSchema, 'The queue is full or unavailable; retry after `Retry-After` seconds.'),
  504: json(a1111ErrorSchema, 'The job did not finish within A1111_WAIT_TIMEOUT_MS and was canceled.'),
};

/** `POST /sdapi/v1/txt2img` and `POST /sdapi/v1/img2img`: blocking calls over giraffe's jobs. */
export const a1111GenerationRoutes: FastifyPluginAsyncZod<A1111GenerationRoutesOptions> = async (
  app,
  opts,
) => {
  const { store, waitTimeoutMs } = opts;

  app.post(
    '/txt2img',
    {
      schema: {
        tags: ['a1111'],
        operationId: 'a1111Txt2Img',
        summary: 'Text to image (A1111)',
        description:
          "AUTOMATIC1111's txt2img: queues a job on the caller's model (options `sd_model_checkpoint`, or " +
          '`override_settings`) and answers when it ends. Unknown fields are ignored; fields giraffe would get ' +
          'wrong are refused with 422 (docs/a1111-api.md). The job id is in `x-giraffe-job-id`.',
        body: txt2imgRequestSchema,
        response: { 200: json(imagesResponseSchema, 'The finished images.'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const call = await resolveCall(app, store, request.owner, body);
      const parameters = {
        ...body,
        prompt: body.prompt ?? '',
        negative_prompt: body.negative_prompt ?? '',
        seed: body.seed ?? -1,
        sampler_name: call.sampler.name,
        scheduler: body.scheduler || A1111_DEFAULTS.scheduler,
        steps: call.generation.steps,
        cfg_scale: call.generation.guidance_scale,
        width: call.generation.width,
        height: call.generation.height,
        batch_size: body.batch_size ?? 1,
        n_iter: body.n_iter ?? 1,
      };
      return runGeneration(app, request, reply, call, body, waitTimeoutMs, parameters);
    },
  );

  app.post(
    '/img2img',
    {
      // An init image and a mask in base64 (4/3 of their bytes), besides the few kilobytes of the rest.
      bodyLimit: imageBodyLimit(app.giraffe.config.MAX_INPUT_IMAGE_BYTES, 2),
      schema: {
        tags: ['a1111'],
        operationId: 'a1111Img2Img',
        summary: 'Image to image and inpainting (A1111)',
        description:
          "AUTOMATIC1111's img2img on giraffe's image editing: the first of `init_images`, `mask` (white is " +
          "repainted), `denoising_strength`, `mask_blur` and `resize_mode` become the job's `image`, " +
          '`mask_image`, `strength`, `mask_blur` and `resize_mode`. Blocks like txt2img.',
        body: img2imgRequestSchema,
        response: { 200: json(imagesResponseSchema, 'The finished images.'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const call = await resolveCall(app, store, request.owner, body);
      const edit = await editFields(body);
      // A1111 leaves the input images out of the echo unless asked (they can be megabytes).
      const echoImages = body.include_init_images === true;
      const parameters = {
        ...body,
        init_images: echoImages ? body.init_images : null,
        mask: echoImages ? (body.mask ?? null) : null,
        prompt: body.prompt ?? '',
        seed: body.seed ?? -1,
        sampler_name: call.sampler.name,
        steps: call.generation.steps,
        cfg_scale: call.generation.guidance_scale,
        width: call.generation.width,
        height: call.generation.height,
        denoising_strength: edit.strength,
      };
      return runGeneration(app, request, reply, call, body, waitTimeoutMs, parameters, edit);
    },
  );
};
