export { loadPipeline, type Pipeline, type LoadPipelineOptions } from './load-pipeline';
export {
  StableDiffusionPipeline,
  type GenerateOptions,
  type GenerateResult,
  type GenerationTimings,
  type ModelInfo,
  type PipelineOptions,
} from './stable-diffusion-pipeline';
export { ThreadedPipeline } from './thread/threaded-pipeline';
export type { StepProgress, CancelSignal } from './stages/denoise';
export {
  generateRequestSchema,
  resolveRequest,
  requestLimits,
  MAX_SEED,
  type GenerateRequest,
  type ResolvedRequest,
  type OutputFormat,
} from './generate-request';
export {
  checkpointKey,
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointOptions,
  type DenoiseCheckpoint,
} from './checkpoint';
export { ClipTokenizer } from './tokenizer';
export { NumpyRandomState } from './random';
export {
  createScheduler,
  schedulerNames,
  type Scheduler,
  type SchedulerName,
  type SchedulerConfig,
} from './schedulers';
export { modelDefaults, type ModelDefaults } from './model-defaults';
export { readModelDirectory, assertDeviceAvailable, type ModelDirectory } from './model';
export {
  ensureDemoModel,
  writeDemoModel,
  writeFixtureModel,
  fixtureVariants,
  type FixtureOptions,
} from './demo';
export { readPngTextChunks, parseA1111Parameters, formatA1111Parameters } from './image';
