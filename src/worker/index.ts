export {
  WorkerService,
  type WorkerServiceOptions,
  type WorkerWebhookOptions,
  type ModelToServe,
} from './worker-service';
