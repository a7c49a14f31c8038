import type { WebSocket } from 'ws';
import {
  encodePreviewFrame,
  streamCloseCodes,
  type PreviewFrameHeader,
  type StreamMessage,
} from '../../jobs/stream-protocol';
import type { StreamSink } from './job-feed';
import type { EncodedPreview } from './stream-hub';

/** Closes a socket that will not finish its close handshake (it does not read) after this long. */
const CLOSE_TIMEOUT_MS = 2000;

/** Gives up on a socket: a close frame with the reason, and the connection cut if it is not answered. */
export function closeSocket(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState === socket.CLOSED) return;
  if (socket.readyState === socket.OPEN) socket.close(code, reason.slice(0, 120));
  setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS).unref();
}

/**
 * A WebSocket as a feed's sink: JSON text frames and binary preview frames.
 * `multiplexed`: several jobs share the socket, so preview headers name
 * their job and a finished job does not close it.
 */
export class WebSocketSink implements StreamSink {
  constructor(
    private readonly socket: WebSocket,
    private readonly multiplexed: boolean,
    /** The feed ended: its job finished, or (with a reason) it is gone. */
    private readonly onEnd: (reason?: string) => void = () => undefined,
  ) {}

  get buffered(): number {
    return this.socket.bufferedAmount;
  }

  send(message: StreamMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  previewBytes(preview: EncodedPreview): number {
    // The frame's header (fixed part and job id) is small beside the image.
    return preview.data.length + 64;
  }

  sendPreview(header: PreviewFrameHeader, preview: EncodedPreview): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    const { job_id: _jobId, ...rest } = header;
    const own: PreviewFrameHeader = this.multiplexed ? header : rest;
    const key = `${own.step}:${own.seq}:${own.job_id ?? ''}`;
    let frame = preview.frames.get(key);
    if (!frame) {
      frame = encodePreviewFrame(own, preview.data);
      // A handful of keys per preview at most (clients differ only by the seq they last saw).
      if (preview.frames.size < 16) preview.frames.set(key, frame);
    }
    this.socket.send(frame);
  }

  end(): void {
    this.onEnd();
    if (!this.multiplexed) closeSocket(this.socket, 1000, 'job finished');
  }

  abort(code: number, reason: string): void {
    if (this.multiplexed && code === streamCloseCodes.jobGone) {
      // One job of several is gone: that subscription ends (its `unsubscribed` says why), the socket serves on.
      this.onEnd(reason);
      return;
    }
    closeSocket(this.socket, code, reason);
  }
}
