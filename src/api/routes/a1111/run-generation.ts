import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GiraffeError, errorCatalogue, type ErrorCode } from '../../../errors';
import type { JobRecord } from '../../../jobs';
import type { EditInput } from '../../edit-request';
import { submitJob } from '../../submit-job';
import { waitForJob } from '../../wait-for-job';
import { a1111Error, sendA1111Error } from './a1111-errors';
import type { Img2ImgRequest, Txt2ImgRequest } from './generation-request';
import { processedInfo } from './processed-info';
import type { ResolvedCall } from './resolve-call';

/** Header naming the job behind a response (A1111's body has no place for it). */
export const JOB_ID_HEADER = 'x-giraffe-job-id';

/** What an A1111 generation call answers with (`TextToImageResponse` / `ImageToImageResponse`). */
export interface A1111ImagesResponse {
  images: string[];
  parameters: Record<string, unknown>;
  info: string;
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
  edit?: EditInput,
): Promise<FastifyReply> {
  const { driver } = app.giraffe;
  // An Idempotency-Key fingerprints the edit's images by hash (submitJob), not their base64 text.
  const fingerprinted = edit
    ? { ...body, init_images: undefined, mask: undefined, image: edit.image, mask_image: edit.mask_image }
    : body;
  const { job } = await submitJob(
    app,
    request,
    call.modelId,
    call.generation,
    fingerprinted,
    undefined,
    edit,
  );
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
      'GIRAFFE_ERR_SDAPI_TIMEOUT',
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
