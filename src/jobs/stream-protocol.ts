/**
 * The progress stream's wire format, shared by the API (which writes it) and
 * the client (which reads it). Text frames / SSE events are JSON
 * {@link StreamMessage}s; WebSocket previews are binary frames: a fixed
 * 16-byte header (big-endian) then the encoded image.
 *
 * | bytes | field                                                        |
 * | ----- | ------------------------------------------------------------ |
 * | 0     | version (1)                                                  |
 * | 1     | image format: 1 jpeg, 2 webp, 3 png                          |
 * | 2–3   | step (1-based, job-relative)                                 |
 * | 4–5   | steps                                                        |
 * | 6–7   | width in pixels                                              |
 * | 8–9   | height in pixels                                             |
 * | 10–13 | seq of the latest event sent before it                       |
 * | 14–15 | length L of the job id that follows (0 on a one-job stream)  |
 * | 16…   | L bytes of job id (UTF-8), then the image bytes              |
 */

export const PREVIEW_FRAME_VERSION = 1;
export const PREVIEW_HEADER_BYTES = 16;

export const previewFormats = ['jpeg', 'webp', 'png'] as const;
export type PreviewFormat = (typeof previewFormats)[number];

const formatCodes: Readonly<Record<PreviewFormat, number>> = { jpeg: 1, webp: 2, png: 3 };

/** What a preview frame says about its image. */
export interface PreviewFrameHeader {
  readonly format: PreviewFormat;
  readonly step: number;
  readonly steps: number;
  readonly width: number;
  readonly height: number;
  readonly seq: number;
  /** Set on the multiplexed stream, where one socket carries several jobs. */
  readonly job_id?: string;
}

export function encodePreviewFrame(header: PreviewFrameHeader, image: Buffer): Buffer {
  const id = Buffer.from(header.job_id ?? '', 'utf8');
  const frame = Buffer.allocUnsafe(PREVIEW_HEADER_BYTES + id.length + image.length);
  frame.writeUInt8(PREVIEW_FRAME_VERSION, 0);
  frame.writeUInt8(formatCodes[header.format], 1);
  frame.writeUInt16BE(Math.min(header.step, 0xffff), 2);
  frame.writeUInt16BE(Math.min(header.steps, 0xffff), 4);
  frame.writeUInt16BE(header.width, 6);
  frame.writeUInt16BE(header.height, 8);
  frame.writeUInt32BE(header.seq >>> 0, 10);
  frame.writeUInt16BE(id.length, 14);
  id.copy(frame, PREVIEW_HEADER_BYTES);
  image.copy(frame, PREVIEW_HEADER_BYTES + id.length);
  return frame;
}

/** The header and image of a preview frame; throws on a frame this version cannot read. */
export function decodePreviewFrame(frame: Uint8Array): { header: PreviewFrameHeader; image: Buffer } {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (buf.length < PREVIEW_HEADER_BYTES) throw new Error('preview frame shorter than its header');
  const version = buf.readUInt8(0);
  if (version !== PREVIEW_FRAME_VERSION) throw new Error(`preview frame version ${version} is not supported`);
  const code = buf.readUInt8(1);
  const format = previewFormats.find((f) => formatCodes[f] === code);
  if (!format) throw new Error(`preview frame has an unknown image format ${code}`);
  const idLength = buf.readUInt16BE(14);
  if (buf.length < PREVIEW_HEADER_BYTES + idLength) throw new Error('preview frame shorter than its job id');
  const jobId = buf.toString('utf8', PREVIEW_HEADER_BYTES, PREVIEW_HEADER_BYTES + idLength);
  return {
    header: {
      format,
      step: buf.readUInt16BE(2),
      steps: buf.readUInt16BE(4),
      width: buf.readUInt16BE(6),
      height: buf.readUInt16BE(8),
      seq: buf.readUInt32BE(10),
      ...(idLength > 0 ? { job_id: jobId } : {}),
    },
    image: buf.subarray(PREVIEW_HEADER_BYTES + idLength),
  };
}

/** How often a client wants previews. */
export type PreviewCadence =
  | { readonly kind: 'none' }
  | { readonly kind: 'every'; readonly steps: number }
  | { readonly kind: 'interval'; readonly ms: number };

/** `none`, `every:N` or `interval:MS`; undefined when the text is none of them. */
export function parsePreviewCadence(text: string): PreviewCadence | undefined {
  if (text === 'none') return { kind: 'none' };
  const match = /^(every|interval):(\d{1,7})$/.exec(text);
  if (!match) return undefined;
  const n = Number(match[2]);
  if (match[1] === 'every') return n >= 1 && n <= 10_000 ? { kind: 'every', steps: n } : undefined;
  return n <= 600_000 ? { kind: 'interval', ms: n } : undefined;
}

/** WebSocket close codes the server uses besides 1000 (job finished) and 1001 (server going away). */
export const streamCloseCodes = {
  /** The client left too much unread: its buffer passed STREAM_CLOSE_BYTES. */
  tooSlow: 4008,
  /** The client missed a ping's pong. */
  unresponsive: 4009,
  /** The job no longer exists (it expired, or the store lost it): nothing more will come. */
  jobGone: 4404,
} as const;

/** A JSON message of the stream (a text frame, or an SSE event whose name is its `type`). */
export interface StreamMessage {
  readonly type:
    | 'snapshot'
    | 'queued'
    | 'started'
    | 'progress'
    | 'preview'
    | 'succeeded'
    | 'failed'
    | 'canceled'
    | 'subscribed'
    | 'unsubscribed'
    | 'error';
  readonly job_id?: string;
  /** The job event's number; a snapshot carries the number of the latest event it reflects. */
  readonly seq?: number;
  readonly [field: string]: unknown;
}
