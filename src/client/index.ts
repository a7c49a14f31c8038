export {
  GiraffeClient,
  GiraffeApiError,
  type GiraffeClientOptions,
  type Job,
  type Problem,
} from './giraffe-client';
export { watchJob, streamUrl, type WatchOptions, type WatchResult, type ReceivedPreview } from './watch-job';
export { readServerSentEvents, type ServerSentEvent } from './sse-reader';
export {
  decodePreviewFrame,
  encodePreviewFrame,
  parsePreviewCadence,
  previewFormats,
  streamCloseCodes,
  PREVIEW_HEADER_BYTES,
  type PreviewFormat,
  type PreviewFrameHeader,
  type StreamMessage,
} from '../jobs/stream-protocol';
/** The body of `POST /v1/generate`, as {@link GiraffeClient.generate} takes it. */
export type { JobRequest } from '../jobs/job-request';
export type { GenerateBody } from './giraffe-client';
