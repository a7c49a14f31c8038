export { createQueueDriver, DEFAULT_PREFIX, type QueueDriverOptions } from './create-queue-driver';
export { FileResultStore } from './file-result-store';
export type {
  CancelOutcome,
  ConsumerOptions,
  DriverOptions,
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
export { defaultSettings as defaultQueueSettings } from './job-lifecycle';
