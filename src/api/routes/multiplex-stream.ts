import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GiraffeError, isGiraffeError } from '../../errors';
import type { JobRecord } from '../../jobs';
import type { StreamMessage } from '../../jobs/stream-protocol';
import { commonProblems, problemResponses } from '../schemas';
import { JobFeed } from '../streams/job-feed';
import { feedOptions, previewOptionFields, seqSchema } from '../streams/stream-options';
import { WebSocketSink } from '../streams/websocket-sink';
import { jobIdSchema, visibleJob } from './jobs';

/** Jobs one multiplexed socket may follow at once. */
export const MAX_SUBSCRIPTIONS = 100;

const subscribeMessage = z.strictObject({
  op: z.literal('subscribe'),
  job_id: jobIdSchema,
  token: z.string().max(4096).optional(),
  after: seqSchema.optional(),
  ...previewOptionFields,
});
const unsubscribeMessage = z.strictObject({ op: z.literal('unsubscribe'), job_id: jobIdSchema });
const clientMessage = z.discriminatedUnion('op', [subscribeMessage, unsubscribeMessage]);

/**
 * `GET /v1/stream`: one WebSocket for several jobs. The client sends
 * `{"op":"subscribe","job_id":…}` (with the job's `token` when the socket
 * was opened without an API key, and optionally `after` and the preview
 * options) and `{"op":"unsubscribe","job_id":…}`; every message and preview
 * frame names its job. A bad message gets an `error` frame; the socket stays.
 */
export const multiplexStreamRoutes: FastifyPluginAsyncZod = async (app) => {
  const { driver, streams, streamTokens } = app.giraffe;
  const { limits } = streams;

  app.route({
    method: 'GET',
    url: '/v1/stream',
    config: { streamAuth: 'optional' },
    schema: {
      tags: ['streams'],
      operationId: 'streamJobs',
      summary: 'Watch several jobs over one WebSocket',
      description:
        'Upgrade to a WebSocket, then send `{"op":"subscribe","job_id":"…"}` (plus `token` when the socket was ' +
        'opened without an API key; optional `after`, `previews`, `preview_format`, `preview_size`) and ' +
        '`{"op":"unsubscribe","job_id":"…"}`. The server answers `subscribed` / `unsubscribed`, then each job’s ' +
        `snapshot and events as on /v1/jobs/{id}/stream, every one with its \`job_id\`; at most ${MAX_SUBSCRIPTIONS} jobs per socket.`,
      response: {
        101: z.null().describe('Switching to the WebSocket protocol.'),
        ...problemResponses('GIRAFFE_ERR_UPGRADE_REQUIRED', ...commonProblems),
      },
    },
    handler: async () => {
      throw new GiraffeError(
        'GIRAFFE_ERR_UPGRADE_REQUIRED',
        'this route speaks WebSocket (send "Connection: Upgrade" and "Upgrade: websocket")',
      );
    },
    wsHandler: (socket, request) => {
      streams.connections.addSocket(socket);
      const feeds = new Map<string, JobFeed>();
      // Subscriptions whose job is being read: they hold their slot, so a burst cannot pass the checks twice.
      const pending = new Set<string>();
      const send = (message: StreamMessage) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
      };
      const fail = (code: string, message: string, jobId?: string) =>
        send({ type: 'error', code, message, ...(jobId ? { job_id: jobId } : {}) });

      const subscribe = async (message: z.output<typeof subscribeMessage>) => {
        const id = message.job_id;
        if (feeds.has(id) || pending.has(id))
          return fail('GIRAFFE_ERR_STREAM_MESSAGE_INVALID', `already subscribed to ${id}`, id);
        if (feeds.size + pending.size >= MAX_SUBSCRIPTIONS) {
          return fail(
            'GIRAFFE_ERR_STREAM_MESSAGE_INVALID',
            `at most ${MAX_SUBSCRIPTIONS} jobs per socket`,
            id,
          );
        }
        const owner = ownerFor(request, message.token, id, streamTokens);
        pending.add(id);
        let job: JobRecord;
        try {
          job = await visibleJob(driver, owner, id);
        } catch (err) {
          pending.delete(id);
          throw err;
        }
        // Gone from `pending`: unsubscribed, or the socket closed, while the record was read.
        if (!pending.delete(id)) return;
        const feed = new JobFeed(
          streams.hub,
          driver,
          job,
          new WebSocketSink(socket, true, (reason = 'job finished') => {
            if (feeds.get(id) === feed) feeds.delete(id);
            send({ type: 'unsubscribed', job_id: id, reason });
          }),
          feedOptions(message, message.after),
          limits,
        );
        feeds.set(id, feed);
        send({ type: 'subscribed', job_id: id });
        await feed.start();
      };

      socket.on('message', (data: Buffer, isBinary: boolean) => {
        const parsed = isBinary ? undefined : parseJson(data.toString('utf8'));
        const result = clientMessage.safeParse(parsed);
        if (!result.success) {
          const detail = isBinary
            ? 'messages are JSON text frames'
            : result.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ');
          return fail('GIRAFFE_ERR_STREAM_MESSAGE_INVALID', detail);
        }
        const message = result.data;
        if (message.op === 'unsubscribe') {
          const feed = feeds.get(message.job_id);
          feed?.stop();
          feeds.delete(message.job_id);
          pending.delete(message.job_id);
          return send({ type: 'unsubscribed', job_id: message.job_id, reason: 'asked' });
        }
        subscribe(message).catch((err: unknown) => {
          feeds.get(message.job_id)?.stop();
          feeds.delete(message.job_id);
          const code = isGiraffeError(err) ? err.code : 'GIRAFFE_ERR_INTERNAL';
          if (!isGiraffeError(err)) request.log.warn({ err }, 'stream subscription failed');
          fail(code, err instanceof Error ? err.message : 'subscription failed', message.job_id);
        });
      });
      socket.once('close', () => {
        for (const feed of feeds.values()) feed.stop();
        feeds.clear();
        pending.clear();
      });
    },
  });
};

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Whose jobs a subscription may follow: the token's owner, else the socket's API key (or open API). */
function ownerFor(
  request: FastifyRequest,
  token: string | undefined,
  jobId: string,
  tokens: { verify(token: string, jobId: string): string | null },
): string | null {
  if (token !== undefined) return tokens.verify(token, jobId);
  if (!request.authenticated) {
    throw new GiraffeError(
      'GIRAFFE_ERR_AUTH_REQUIRED',
      "this socket was opened without an API key: send the job's stream token as `token`",
    );
  }
  return request.owner;
}
