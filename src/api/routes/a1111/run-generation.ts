import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GiraffeError, errorCatalogue, type ErrorCode } from '../../../errors';
import type { JobRecord } from '../../../jobs';
import type { GenerateRequest, OutputFormat } from '../../../pipeline/generate-request';
import { submitJob } from '../../submit-job';
import { waitForJob } from '../../wait-for-job';
import { a1111Error, sendA1111Error } from './a1111-errors';
import { callerModel, resolveCheckpoint } from './checkpoints';
import type { Img2ImgRequest, Txt2ImgRequest } from './generation-request';
import { refuseUnsupported } from './generation-request';
import { processedInfo } from './processed-info';
import type { A1111OptionsStore } from './options-store';
import { findSampler, findScheduleType, type A1111Sampler } from './samplers';

/** A1111's defaults (modules/processing.py), where they differ from giraffe's. */
export const A1111_DEFAULTS = {
  sampler: 'Euler',
  scheduler: 'automatic',
  steps: 50,
  cfg_scale: 7,
  width: 512,
  height: 512,
} as const;

/** Header naming the job behind a response (A1111's body has no place for it). */
export const JOB_ID_HEADER = 'x-giraffe-job-id';

/** What an A1111 generation call answers with (`TextToImageResponse` / `ImageToImageResponse`). */
export interface A1111ImagesResponse {
  images: string[];
  parameters: Record<string, unknown>;
  info: string;
}

/** The picture settings a call resolved to, before defaults the job adds (seed). */
export interface ResolvedCall {
  readonly modelId: string;
  readonly sampler: A1111Sampler;
  readonly karras: boolean;
  readonly generation: GenerateRequest;
}

function unsupported(field: string, message: string): never {
  throw new GiraffeError('GIRAFFE_ERR_A1111_UNSUPPORTED', `${field}: ${message}`, { field });
}

const samplesFormats: Readonly<Record<string, OutputFormat>> = {
  png: 'png',
  jpg: 'jpeg',
  jpeg: 'jpeg',
  webp: 'webp',
};

/** A1111 fields → a giraffe job request on the caller's model; refuses what we would get wrong. */
export async function resolveCall(
  app: FastifyInstance,
  store: A1111OptionsStore,
  owner: string | null,
  body: Txt2ImgRequest | Img2ImgRequest,
): Promise<ResolvedCall> {
  refuseUnsupported(body);
  const samplerName = body.sampler_name || body.sampler_index || A1111_DEFAULTS.sampler;
  const found = findSampler(samplerName);
  if (!found)
    unsupported('sampler_name', `"${samplerName}" is not a sampler here; GET /sdapi/v1/samplers lists them`);
  const scheduleName = body.scheduler || A1111_DEFAULTS.scheduler;
  const schedule = findScheduleType(scheduleName);
  if (!schedule)
    unsupported(
      'scheduler',
      `"${scheduleName}" is not a schedule type here; GET /sdapi/v1/schedulers lists them`,
    );
  const karras = found.karras || schedule.karras;
  if (karras && !found.sampler.karras)
    unsupported('scheduler', `the Karras schedule does not apply to ${found.sampler.name}`);

  const options = await store.get(owner);
  const overrides = body.override_settings ?? {};
  let modelId: string;
  const checkpoint = overrides.sd_model_checkpoint;
  if (typeof checkpoint === 'string' && checkpoint !== '') {
    const id = await resolveCheckpoint(app, checkpoint);
    if (!id)
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_UNKNOWN',
        `override_settings.sd_model_checkpoint: "${checkpoint}" is not served here (GET /sdapi/v1/sd-models lists them)`,
        { field: 'override_settings.sd_model_checkpoint' },
      );
    modelId = id;
  } else {
    modelId = await callerModel(app, store, owner);
  }
  const format = overrides.samples_format ?? options.samples_format ?? 'png';
  const outputFormat = typeof format === 'string' ? samplesFormats[format.toLowerCase()] : undefined;
  if (!outputFormat) unsupported('samples_format', `${JSON.stringify(format)}: use png, jpg or webp`);

  const generation: GenerateRequest = {
    prompt: body.prompt ?? '',
    negative_prompt: body.negative_prompt ?? undefined,
    width: body.width ?? A1111_DEFAULTS.width,
    height: body.height ?? A1111_DEFAULTS.height,
    steps: body.steps ?? A1111_DEFAULTS.steps,
    guidance_scale: body.cfg_scale ?? A1111_DEFAULTS.cfg_scale,
    scheduler: found.sampler.scheduler,
    karras: karras || undefined,
    // -1 (or nothing) asks for a random seed; the job picks it and reports it.
    seed: body.seed === undefined || body.seed === null || body.seed < 0 ? undefined : body.seed,
    num_images: (body.batch_size ?? 1) * (body.n_iter ?? 1),
    output_format: outputFormat,
  };
  return { modelId, sampler: found.sampler, karras, generation };
}

/**
 * Queues the job, blocks until it ends (A1111 answers when the picture is
 * done) and answers in A1111's shape. The job goes through the same queue,
 * limits and workers as `POST /v1/generate` (submitJob, waitForJob); a
 * client that hangs up or a wait past `timeoutMs` cancels it.
 */
export async function runGeneration(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  call: ResolvedCall,
  body: Txt2ImgRequest | Img2ImgRequest,
  timeoutMs: number,
  parameters: Record<string, unknown>,
): Promise<FastifyReply> {
  const { driver } = app.giraffe;
  const { job } = await submitJob(app, request, call.modelId, call.generation, body);
  reply.header(JOB_ID_HEADER, job.id);
  request.log.info({ job_id: job.id, model: call.modelId }, 'a1111 job queued');

  const gone = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  const finished = await waitForJob(driver, job.id, timeoutMs, gone.signal);
  if (!finished)
    throw new GiraffeError('GIRAFFE_ERR_INTERNAL', `job ${job.id} disappeared while it was awaited`);
  if (finished.status === 'succeeded') {
    const send = body.send_images ?? true;
    const images = send ? await imagesOf(app, finished) : [];
    const response: A1111ImagesResponse = {
      images,
      parameters,
      info: JSON.stringify(processedInfo(finished, call, body)),
    };
    return reply.code(200).send(response);
  }
  if (finished.status === 'failed') {
    const code = finished.error?.code ?? 'GIRAFFE_ERR_GENERATION_FAILED';
    const status = code in errorCatalogue ? errorCatalogue[code as ErrorCode].status : 500;
    const message = `job ${job.id} failed: ${finished.error?.message ?? 'no reason given'}`;
    return sendA1111Error(reply, a1111Error(status === 400 ? 422 : status, code, message));
  }
  if (finished.status === 'canceled') {
    return sendA1111Error(
      reply,
      a1111Error(409, 'GIRAFFE_ERR_GENERATION_CANCELED', `job ${job.id} was interrupted before it finished`),
    );
  }
  // Still queued or running: nobody will collect it, so free the worker.
  await driver.queue.cancel(job.id);
  const why = gone.signal.aborted
    ? 'the client disconnected'
    : `it did not finish within ${timeoutMs / 1000} s`;
  return sendA1111Error(
    reply,
    a1111Error(
      504,
      'GIRAFFE_ERR_A1111_TIMEOUT',
      `job ${job.id} was canceled: ${why} (A1111_WAIT_TIMEOUT_MS)`,
    ),
  );
}

/** The job's images as A1111 sends them: plain base64 of the files (PNG with its `parameters` chunk). */
async function imagesOf(app: FastifyInstance, job: JobRecord): Promise<string[]> {
  return Promise.all(
    (job.result?.images ?? []).map(async (img) => {
      const stored = await app.giraffe.driver.results.get(job.id, img.index);
      if (!stored)
        throw new GiraffeError('GIRAFFE_ERR_IMAGE_NOT_FOUND', `job ${job.id} has no image ${img.index}`);
      return stored.data.toString('base64');
    }),
  );
}
