import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import sharp from 'sharp';
import { z } from 'zod';
import { GiraffeError } from '../../errors';
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
        params: z.strictObject({ id: jobIdSchema, n: z.coerce.number().int().min(0).max(63) }),
        querystring: z.strictObject({ format: z.enum(['png', 'jpeg', 'webp']).optional() }),
      },
    },
    async (request, reply) => {
      const { id, n } = request.params;
      const job = await visibleJob(driver, request, id);
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
