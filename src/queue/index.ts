export { createQueueDriver, DEFAULT_PREFIX, type QueueDriverOptions } from './create-queue-driver';
export { FileResultStore } from './file-result-store';
export type {
  CancelOutcome,
  CheckpointStore,
  ConsumerOptions,
  DriverOptions,
  EnqueuedJob,
  EventBus,
  JobConsumer,
  JobContext,
  JobHandler,
  JobQueue,
  ListQuery,
  NewJob,
  QueueDriver,
  ResultStore,
  StoredImage,
  Unsubscribe,
  WorkerInfo,
  WorkerRegistry,
} from './ports';
export { bullmqJobOptions } from './bullmq';
export { queueFullError } from './queue-full-error';
export { defaultSettings as defaultQueueSettings } from './job-lifecycle';
