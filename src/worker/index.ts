export { WorkerService, type WorkerServiceOptions, type ModelToServe } from './worker-service';
