import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { GiraffeError } from '../../errors';
import type { JobRecord } from '../../jobs';
import type { FastifyRequest } from 'fastify';
import type { QueueDriver } from '../../queue';
import { cancelJob } from '../cancel-job';
import { jobView } from '../job-view';
import {
  canceledJobSchema,
  commonProblems,
  jobListSchema,
  jobViewSchema,
  jsonResponse,
  problemResponses,
  type JobView,
} from '../schemas';

export const jobIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'is not a job id')
  .describe('The job id `POST /v1/generate` answered with.');
const params = z.strictObject({ id: jobIdSchema });

/** A job `owner` may see: its own (another key's job is a 404, as if it did not exist). */
export async function visibleJob(
  driver: QueueDriver,
  owner: FastifyRequest['owner'],
  id: string,
): Promise<JobRecord> {
  const job = await driver.queue.get(id);
  if (!job || job.owner !== owner) throw new GiraffeError('GIRAFFE_ERR_JOB_NOT_FOUND', `no job ${id}`);
  return job;
}

/** `GET /v1/jobs`, `GET /v1/jobs/:id`, `DELETE /v1/jobs/:id`. */
export const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { driver } = app.giraffe;

  app.get(
    '/v1/jobs',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'listJobs',
        summary: "List the caller's jobs",
        description: 'Jobs made with the same API key that are still within retention, most recent first.',
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(200).default(50).describe('At most this many jobs.'),
        }),
        response: {
          200: jsonResponse(jobListSchema, "The caller's jobs."),
          ...problemResponses('GIRAFFE_ERR_REQUEST_INVALID', ...commonProblems),
        },
      },
    },
    async (request) => {
      const jobs = await driver.queue.list({ owner: request.owner, limit: request.query.limit });
      return { jobs: jobs.map((j) => jobView(j) as JobView) };
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'getJob',
        summary: 'Get a job',
        description:
          'The job with its state, progress, queue position (while it waits), result and links. ' +
          "Another key's job is a 404, as if it did not exist.",
        params,
        response: {
          200: jsonResponse(jobViewSchema, 'The job.'),
          ...problemResponses('GIRAFFE_ERR_REQUEST_INVALID', 'GIRAFFE_ERR_JOB_NOT_FOUND', ...commonProblems),
        },
      },
    },
    async (request) => {
      const job = await visibleJob(driver, request.owner, request.params.id);
      const position = job.status === 'queued' ? await driver.queue.position(job.id) : undefined;
      return jobView(job, position) as JobView;
    },
  );

  app.delete(
    '/v1/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'cancelJob',
        summary: 'Cancel a job',
        description:
          'A waiting job leaves the queue and ends `canceled` (`200`). A running job is asked to stop and the ' +
          'answer waits (up to 5 s) for it: `200` once it ended `canceled`, `202` (`cancel_requested`) while it ' +
          'still runs (it will end `canceled`), and `409` when it ended `succeeded` or `failed` first. A job that ' +
          'had already ended is a `409`.',
        params,
        response: {
          200: jsonResponse(canceledJobSchema, 'The job is canceled.'),
          202: jsonResponse(
            canceledJobSchema,
            'The job is still running after 5 s; it stops at its next step and ends canceled.',
          ),
          ...problemResponses(
            'GIRAFFE_ERR_REQUEST_INVALID',
            'GIRAFFE_ERR_JOB_NOT_FOUND',
            'GIRAFFE_ERR_JOB_FINISHED',
            ...commonProblems,
          ),
        },
      },
    },
    async (request, reply) => {
      const job = await visibleJob(driver, request.owner, request.params.id);
      const canceled = await cancelJob(driver, job);
      return reply
        .code(canceled.status)
        .send({ ...(jobView(canceled.job) as JobView), cancel: canceled.outcome });
    },
  );
};
