export {
  schedulerNames,
  type BetaSchedule,
  type CreateSchedulerOptions,
  type PredictionType,
  type Scheduler,
  type SchedulerConfig,
  type SchedulerName,
  type SchedulerState,
  type StepOptions,
  type StepResult,
  type TimestepSpacing,
} from './types';
export { createScheduler, isSchedulerName } from './create-scheduler';
export { checkSchedulerRequest } from './check-scheduler-request';
export { lcmGuidanceEmbedding } from './lcm-guidance-embedding';
export { alphasCumprod, betasFor } from './noise-schedule';
