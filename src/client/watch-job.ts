import WebSocket from 'ws';
import { finalEventTypes } from '../jobs/job-events';
import { decodePreviewFrame, type PreviewFormat, type StreamMessage } from '../jobs/stream-protocol';
import type { Job } from './giraffe-client';

/** A preview as the client receives it. */
export interface ReceivedPreview {
  readonly step: number;
  readonly steps: number;
  readonly format: PreviewFormat;
  readonly width: number;
  readonly height: number;
  readonly seq: number;
  readonly image: Buffer;
}

export interface WatchOptions {
  /** Where the API is, e.g. `http://localhost:8080` (the stream URL is derived from it). */
  readonly baseUrl: string;
  readonly jobId: string;
  /** The job's stream token (from the 202), or an API key in `apiKey`. */
  readonly token?: string;
  readonly apiKey?: string;
  /** `none`, `every:N`, `interval:MS`. @defaultValue server's (`every:1`) */
  readonly previews?: string;
  readonly previewFormat?: PreviewFormat;
  readonly previewSize?: number;
  /** Reconnects after a dropped connection, resuming after the last event seen. @defaultValue 5 */
  readonly maxReconnects?: number;
  readonly onSnapshot?: (job: Job, message: StreamMessage) => void;
  readonly onEvent?: (message: StreamMessage) => void;
  readonly onPreview?: (preview: ReceivedPreview) => void;
  /** Stops watching (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}

/** How a watched job ended. */
export interface WatchResult {
  /** The final event, or the snapshot of a job that had already ended. */
  readonly final: StreamMessage;
  readonly status: 'succeeded' | 'failed' | 'canceled';
  /** The `seq` of the last event received. */
  readonly seq: number;
  /** Times the watcher reconnected. */
  readonly reconnects: number;
}

/** A job's final states are the names of its final events. */
const finalTypes: ReadonlySet<string> = finalEventTypes;

/** Builds the WebSocket URL of a job's stream. */
export function streamUrl(options: WatchOptions, after?: number): string {
  const url = new URL(`/v1/jobs/${encodeURIComponent(options.jobId)}/stream`, options.baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (options.token) url.searchParams.set('token', options.token);
  if (options.previews) url.searchParams.set('previews', options.previews);
  if (options.previewFormat) url.searchParams.set('preview_format', options.previewFormat);
  if (options.previewSize) url.searchParams.set('preview_size', String(options.previewSize));
  if (after !== undefined) url.searchParams.set('after', String(after));
  return url.toString();
}

/**
 * Follows a job over its WebSocket stream until it ends: the snapshot, every
 * event once and in order, and previews. A dropped connection is reopened
 * with `?after=` the last event seen, so nothing is missed or repeated.
 */
export function watchJob(options: WatchOptions): Promise<WatchResult> {
  return new Promise((resolve, reject) => {
    let seq: number | undefined;
    let reconnects = 0;
    let done = false;
    const maxReconnects = options.maxReconnects ?? 5;

    const finish = (error: Error | undefined, result?: WatchResult) => {
      if (done) return;
      done = true;
      if (error) reject(error);
      else resolve(result!);
    };
    const ended = (final: StreamMessage, status: string) =>
      finish(undefined, { final, status: status as WatchResult['status'], seq: seq ?? 0, reconnects });
    options.signal?.addEventListener('abort', () => finish(options.signal!.reason as Error), { once: true });

    const connect = () => {
      const socket = new WebSocket(streamUrl(options, seq), {
        headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      });
      options.signal?.addEventListener('abort', () => socket.terminate(), { once: true });
      let refused: Error | undefined;
      socket.on('unexpected-response', (request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => {
          request.destroy();
          refused = new Error(`stream refused: ${response.statusCode} ${body}`);
          finish(refused);
        });
      });
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (done) return;
        if (isBinary) {
          const { header, image } = decodePreviewFrame(data);
          options.onPreview?.({ ...header, image });
          return;
        }
        const message = JSON.parse(data.toString('utf8')) as StreamMessage;
        if (message.type === 'snapshot') {
          seq = message.seq ?? seq;
          const job = message.job as Job;
          options.onSnapshot?.(job, message);
          if (finalTypes.has(job.status)) ended(message, job.status);
          return;
        }
        if (typeof message.seq === 'number' && message.update !== true) seq = message.seq;
        options.onEvent?.(message);
        if (finalTypes.has(message.type)) ended(message, message.type);
      });
      socket.on('error', () => undefined);
      socket.on('close', (code, reason) => {
        if (done || refused) return;
        if (reconnects >= maxReconnects) {
          finish(new Error(`stream closed (${code} ${reason.toString()}) after ${reconnects} reconnects`));
          return;
        }
        reconnects += 1;
        setTimeout(connect, Math.min(2000, 100 * 2 ** reconnects));
      });
    };
    connect();
  });
}
