import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { GiraffeError } from '../../errors';
import { isFinal, type JobRecord } from '../../jobs';
import { commonProblems, problemResponses } from '../schemas';
import { JobFeed } from '../streams/job-feed';
import { feedOptions, previewOptionFields, seqSchema } from '../streams/stream-options';
import { SseSink } from '../streams/sse-sink';
import { WebSocketSink, closeSocket } from '../streams/websocket-sink';
import { jobIdSchema, visibleJob } from './jobs';

const params = z.strictObject({ id: jobIdSchema });

const streamQuery = z.strictObject({
  token: z
    .string()
    .max(4096)
    .optional()
    .describe("The job's stream token from the 202 (browsers cannot send an Authorization header)."),
  after: seqSchema
    .optional()
    .describe('Resume: send exactly the events after this `seq` instead of a snapshot.'),
  ...previewOptionFields,
});

const streamProblems = problemResponses(
  'GIRAFFE_ERR_REQUEST_INVALID',
  'GIRAFFE_ERR_JOB_NOT_FOUND',
  ...commonProblems,
);

/** `GET /v1/jobs/:id/stream` (WebSocket) and `GET /v1/jobs/:id/events` (Server-Sent Events). */
export const jobStreamRoutes: FastifyPluginAsyncZod = async (app) => {
  const { driver, streams } = app.giraffe;
  const checked = new WeakMap<FastifyRequest, JobRecord>();
  const { limits } = streams;

  app.route({
    method: 'GET',
    url: '/v1/jobs/:id/stream',
    config: { streamAuth: 'token' },
    schema: {
      tags: ['streams'],
      operationId: 'streamJob',
      summary: 'Watch a job over a WebSocket',
      description:
        'Upgrade to a WebSocket. The server sends a `snapshot` (JSON text frame) of the job, then its events ' +
        '(`queued`, `started`, `progress`, `succeeded`, `failed`, `canceled`, each with its `seq`) as text frames ' +
        'and previews as binary frames (16-byte header, then the image; see the README). A finished job closes ' +
        'with code 1000 after its final state. `?after=SEQ` resumes with exactly the events after SEQ.',
      params,
      querystring: streamQuery,
      response: {
        101: z.null().describe('Switching to the WebSocket protocol.'),
        ...problemResponses('GIRAFFE_ERR_UPGRADE_REQUIRED'),
        ...streamProblems,
      },
    },
    // Checked before the upgrade, so a refusal is a plain HTTP answer; the handler takes it from here.
    preHandler: async (request) => {
      checked.set(request, await visibleJob(driver, request.owner, request.params.id));
    },
    handler: async () => {
      throw new GiraffeError(
        'GIRAFFE_ERR_UPGRADE_REQUIRED',
        'this route speaks WebSocket (send "Connection: Upgrade" and "Upgrade: websocket"); for plain HTTP use /v1/jobs/{id}/events (Server-Sent Events)',
      );
    },
    wsHandler: (socket, request) => {
      streams.connections.addSocket(socket);
      void (async () => {
        const job = checked.get(request) ?? (await visibleJob(driver, request.owner, request.params.id));
        checked.delete(request);
        const feed = new JobFeed(
          streams.hub,
          driver,
          job,
          new WebSocketSink(socket, false),
          feedOptions(request.query, request.query.after),
          limits,
        );
        socket.once('close', () => feed.stop());
        // A one-job stream takes no messages; anything the client sends is ignored.
        await feed.start();
      })().catch((err: unknown) => {
        request.log.warn({ err }, 'job stream failed');
        closeSocket(socket, 1011, err instanceof GiraffeError ? err.message : 'the stream failed');
      });
    },
  });

  app.get(
    '/v1/jobs/:id/events',
    {
      config: { streamAuth: 'token' },
      schema: {
        tags: ['streams'],
        operationId: 'jobEvents',
        summary: 'Watch a job as Server-Sent Events',
        description:
          'The same stream as `/v1/jobs/{id}/stream`, as `text/event-stream`: each message is an event named by its ' +
          '`type` with the JSON as data; kept events carry their `seq` as the event id, so `Last-Event-ID` (sent by ' +
          'EventSource on reconnect) or `?after=SEQ` resumes. Previews are `preview` events with the image in base64.',
        params,
        querystring: streamQuery,
        headers: z.looseObject({
          'last-event-id': seqSchema.optional().describe('Resume after this event (EventSource sends it).'),
        }),
        response: {
          200: {
            description: 'The event stream.',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          204: z
            .null()
            .describe(
              'Resumed at or after the final event of a job that has ended: nothing more will come, and EventSource stops reconnecting.',
            ),
          ...streamProblems,
        },
      },
    },
    async (request, reply) => {
      const job = await visibleJob(driver, request.owner, request.params.id);
      const after = request.query.after ?? request.headers['last-event-id'];
      // EventSource reconnects whenever a stream ends; 204 is the answer that stops it for good.
      if (after !== undefined && isFinal(job.status) && after >= (job.event_seq ?? 0)) {
        return reply.code(204).send(null);
      }
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // nginx: pass events through as they come.
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      response.write('retry: 2000\n\n');
      const sink = new SseSink(response);
      streams.connections.addSse(response, sink);
      const feed = new JobFeed(streams.hub, driver, job, sink, feedOptions(request.query, after), limits);
      response.once('close', () => feed.stop());
      try {
        await feed.start();
      } catch (err) {
        request.log.warn({ err }, 'event stream failed');
        sink.abort(1011, err instanceof GiraffeError ? err.message : 'the stream failed');
      }
    },
  );
};
