export { createBullmqDriver, type BullmqDriverOptions } from './bullmq-driver';
export { bullmqJobOptions } from './bullmq-job-queue';
