export {
  jobRequestSchema,
  jobRequestObject,
  modelIdSchema,
  inputImageNames,
  type JobRequest,
  type ResolvedJobRequest,
  type InputImageName,
  type InputImageRef,
} from './job-request';
export {
  jobStatuses,
  finalStatuses,
  isFinal,
  type JobStatus,
  type JobRecord,
  type JobResult,
  type ReproducibilityRecord,
  type JobImage,
  type JobError,
  type JobProgress,
} from './job-record';
export {
  finalEventTypes,
  type JobEvent,
  type JobEventBody,
  type JobEventDraft,
  type JobMessage,
  type JobPreview,
  type JobEventType,
  type StepLatents,
} from './job-events';
