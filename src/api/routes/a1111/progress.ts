import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { JobRecord } from '../../../jobs';

/** How many of the caller's most recent jobs are looked at for one that is queued or running. */
const RECENT_JOBS = 50;

/**
 * The caller's jobs that have not ended, running first (most recent first),
 * then queued (oldest first: the next to run). A1111 has one job at a time
 * for everybody; here each API key sees its own.
 */
export async function activeJobs(app: FastifyInstance, owner: string | null): Promise<JobRecord[]> {
  const recent = await app.giraffe.driver.queue.list({ owner, limit: RECENT_JOBS });
  const running = recent.filter((j) => j.status === 'running');
  const queued = recent.filter((j) => j.status === 'queued').reverse();
  return [...running, ...queued];
}

const progressResponseSchema = z
  .object({
    progress: z.number().describe('0 to 1: the share of the running job done.'),
    eta_relative: z.number().describe('Seconds left, estimated.'),
    state: z
      .object({
        skipped: z.boolean(),
        interrupted: z.boolean(),
        stopping_generation: z.boolean(),
        job: z.string().describe('The running job id, or "".'),
        job_count: z.number().int().describe("The caller's jobs queued or running."),
        job_timestamp: z.string(),
        job_no: z.number().int(),
        sampling_step: z.number().int(),
        sampling_steps: z.number().int(),
      })
      .describe("A1111's `shared.state`, for the caller's jobs."),
    current_image: z
      .string()
      .nullable()
      .describe('Base64 PNG preview of the running job, when one was made.'),
    textinfo: z.string().nullable(),
    current_task: z.string().nullable().describe('The running job id.'),
  })
  .meta({ id: 'A1111Progress', description: "AUTOMATIC1111's ProgressResponse." });

function timestamp(iso: string | undefined): string {
  if (!iso) return '0';
  return iso.replace(/[-:T]/g, '').slice(0, 14);
}

/** `GET /sdapi/v1/progress`, `POST /sdapi/v1/interrupt` and `POST /sdapi/v1/skip`, per caller. */
export const a1111ProgressRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/progress',
    {
      schema: {
        tags: ['a1111'],
        operationId: 'a1111Progress',
        summary: "Progress of the caller's running job (A1111)",
        description:
          "A1111's progress: the caller's (API key's) running job, with a base64 PNG preview of its " +
          'latest step. With no job running, `progress` and `state.job_count` are 0.',
        querystring: z.object({
          skip_current_image: z
            .string()
            .max(8)
            .optional()
            .describe('`true` (any case, as Python sends `True`) or `1`: leave out `current_image`.'),
          id_task: z.string().max(256).optional().describe('Ignored.'),
        }),
        response: {
          200: {
            description: 'Progress.',
            content: { 'application/json': { schema: progressResponseSchema } },
          },
        },
      },
    },
    async (request) => {
      const jobs = await activeJobs(app, request.owner);
      const job = jobs[0];
      const skip = request.query.skip_current_image?.toLowerCase();
      const skipImage = skip === 'true' || skip === '1';
      const state = {
        skipped: false,
        interrupted: false,
        stopping_generation: false,
        job: job?.id ?? '',
        job_count: jobs.length,
        job_timestamp: timestamp(job?.started_at ?? job?.created_at),
        job_no: 0,
        sampling_step: job?.progress?.step ?? 0,
        sampling_steps: job?.progress?.steps ?? job?.request.steps ?? 0,
      };
      if (!job || job.status !== 'running') {
        const textinfo = job ? 'Waiting in the queue' : null;
        return { progress: 0, eta_relative: 0, state, current_image: null, textinfo, current_task: null };
      }
      const p = job.progress;
      // A1111 reports 0.01 as soon as a job starts, so a started job never reads as idle.
      const progress = p && p.steps > 0 ? Math.min(1, Math.max(0.01, p.step / p.steps)) : 0.01;
      let currentImage: string | null = null;
      if (!skipImage) {
        const preview = await app.giraffe.driver.events.latestPreview(job.id).catch(() => undefined);
        if (preview) {
          const size = Math.max(job.request.width, job.request.height);
          const encoded = await app.giraffe.streams.hub.encodePreview(preview, 'png', size);
          currentImage = encoded.data.toString('base64');
        }
      }
      return {
        progress,
        eta_relative: p ? p.eta_ms / 1000 : 0,
        state,
        current_image: currentImage,
        textinfo: p ? `Step ${p.step}/${p.steps}` : 'Starting',
        current_task: job.id,
      };
    },
  );

  const cancelSchema = (operationId: string, summary: string) => ({
    tags: ['a1111'],
    operationId,
    summary,
    description:
      "Cancels the caller's running job (its worker stops at the next step); with none running, the " +
      "caller's next queued job. The blocked txt2img/img2img call then answers 409. A1111 answers `{}`.",
    response: {
      200: {
        description: 'Done (also when there was nothing to stop).',
        content: { 'application/json': { schema: z.object({}) } },
      },
    },
  });

  const stop = async (owner: string | null): Promise<Record<string, never>> => {
    const jobs = await activeJobs(app, owner);
    const running = jobs.filter((j) => j.status === 'running');
    const targets = running.length > 0 ? running : jobs.slice(0, 1);
    await Promise.all(targets.map((j) => app.giraffe.driver.queue.cancel(j.id)));
    return {};
  };
  app.post(
    '/interrupt',
    { schema: cancelSchema('a1111Interrupt', "Interrupt the caller's job (A1111)") },
    (request) => stop(request.owner),
  );
  // We cannot skip one image of a batch: a batch is one denoising run. Skip stops the job like interrupt.
  app.post('/skip', { schema: cancelSchema('a1111Skip', "Skip the caller's job (A1111)") }, (request) =>
    stop(request.owner),
  );
};
