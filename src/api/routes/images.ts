import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import sharp from 'sharp';
import { z } from 'zod';
import { GiraffeError } from '../../errors';
import { commonProblems, imageBytes, problemResponses } from '../schemas';
import { jobIdSchema, visibleJob } from './jobs';

const contentTypes = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

/**
 * `GET /v1/jobs/:id/images/:n`: the image bytes with their content type, a
 * strong ETag and long-lived private caching (a job's images never change).
 * `?format=png|jpeg|webp` converts on the fly.
 */
export const imageRoutes: FastifyPluginAsyncZod = async (app) => {
  const { driver, config } = app.giraffe;
  app.get(
    '/v1/jobs/:id/images/:n',
    {
      schema: {
        tags: ['images'],
        operationId: 'getJobImage',
        summary: 'Get an image of a finished job',
        description:
          "The image bytes in the format the job made them, or converted with `?format=`. A job's images never " +
          'change: the response carries a strong `ETag` and `Cache-Control: private, immutable` for the ' +
          'retention time, and `If-None-Match` with that ETag answers `304`.',
        params: z.strictObject({
          id: jobIdSchema,
          n: z.coerce.number().int().min(0).max(63).describe('Index of the image in the job, from 0.'),
        }),
        querystring: z.strictObject({
          format: z
            .enum(['png', 'jpeg', 'webp'])
            .optional()
            .describe('Convert to this format (default: the format the job made).'),
        }),
        response: {
          200: {
            description: 'The image.',
            content: Object.fromEntries(
              Object.values(contentTypes).map((type) => [type, { schema: imageBytes(type) }]),
            ) as Record<(typeof contentTypes)[keyof typeof contentTypes], { schema: z.ZodType<Buffer> }>,
          },
          304: z.undefined().describe('Not modified: `If-None-Match` names the current ETag.'),
          ...problemResponses(
            'GIRAFFE_ERR_REQUEST_INVALID',
            'GIRAFFE_ERR_JOB_NOT_FOUND',
            'GIRAFFE_ERR_IMAGE_NOT_FOUND',
            'GIRAFFE_ERR_JOB_NOT_FINISHED',
            ...commonProblems,
          ),
        },
      },
    },
    async (request, reply) => {
      const { id, n } = request.params;
      const job = await visibleJob(driver, request.owner, id);
      if (job.status !== 'succeeded') {
        throw new GiraffeError(
          'GIRAFFE_ERR_JOB_NOT_FINISHED',
          `job ${id} is ${job.status}; images exist once it has succeeded`,
        );
      }
      const stored = await driver.results.get(id, n);
      if (!stored)
        throw new GiraffeError(
          'GIRAFFE_ERR_IMAGE_NOT_FOUND',
          `job ${id} has no image ${n} (it has ${job.result?.images.length ?? 0}, numbered from 0)`,
        );
      const format = request.query.format;
      let body = stored.data;
      let type = stored.content_type;
      if (format && contentTypes[format] !== stored.content_type) {
        body = await sharp(stored.data)[format]().toBuffer();
        type = contentTypes[format];
      }
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
      reply
        .header('etag', etag)
        .header('cache-control', `private, max-age=${Math.floor(config.RETENTION_SECONDS)}, immutable`);
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(type).send(body);
    },
  );
};
