import type { ServerResponse } from 'node:http';
import { streamCloseCodes, type PreviewFrameHeader, type StreamMessage } from '../../jobs/stream-protocol';
import type { StreamSink } from './job-feed';
import type { EncodedPreview } from './stream-hub';

/** Each preview's base64, made once for all the SSE clients that get it. */
const base64Of = new WeakMap<Buffer, string>();

/**
 * A Server-Sent Events response as a feed's sink: each message is an event
 * named by its `type`; kept events carry their `seq` as the event id, so a
 * browser's EventSource reconnects with `Last-Event-ID` and resumes.
 * Previews are `preview` events with the image in base64 and no id.
 */
export class SseSink implements StreamSink {
  constructor(private readonly response: ServerResponse) {}

  get buffered(): number {
    return this.response.writableLength;
  }

  send(message: StreamMessage, id?: number): void {
    const head = id === undefined ? '' : `id: ${id}\n`;
    this.#write(`${head}event: ${message.type}\ndata: ${JSON.stringify(message)}\n\n`);
  }

  previewBytes(preview: EncodedPreview): number {
    // base64, plus the event's JSON around it.
    return Math.ceil(preview.data.length / 3) * 4 + 256;
  }

  sendPreview(header: PreviewFrameHeader, preview: EncodedPreview): void {
    let data = base64Of.get(preview.data);
    if (data === undefined) base64Of.set(preview.data, (data = preview.data.toString('base64')));
    const message = { type: 'preview', ...header, data };
    this.#write(`event: preview\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** A comment line: keeps proxies from timing the connection out. */
  ping(): void {
    this.#write(': ping\n\n');
  }

  end(): void {
    if (!this.response.writableEnded) this.response.end();
  }

  abort(code: number, reason: string): void {
    const error =
      code === streamCloseCodes.tooSlow
        ? 'GIRAFFE_ERR_STREAM_TOO_SLOW'
        : code === streamCloseCodes.jobGone
          ? 'GIRAFFE_ERR_JOB_NOT_FOUND'
          : 'GIRAFFE_ERR_QUEUE_UNAVAILABLE';
    // Written past the limit on purpose: it is the last thing this client gets.
    this.#write(`event: error\ndata: ${JSON.stringify({ type: 'error', code: error, message: reason })}\n\n`);
    this.response.end();
    setTimeout(() => this.response.destroy(), 2000).unref();
  }

  #write(chunk: string): void {
    if (!this.response.writableEnded && !this.response.destroyed) this.response.write(chunk);
  }
}
