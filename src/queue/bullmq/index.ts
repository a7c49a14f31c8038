export { createBullmqDriver, type BullmqDriverOptions } from './bullmq-driver';
