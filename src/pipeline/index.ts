export { loadPipeline, type Pipeline, type LoadPipelineOptions } from './load-pipeline';
export {
  StableDiffusionPipeline,
  type GenerateOptions,
  type GenerateResult,
  type GenerationTimings,
  type RenderedGeneration,
  type ModelInfo,
  type PipelineOptions,
} from './stable-diffusion-pipeline';
export { ThreadedPipeline } from './thread/threaded-pipeline';
export { DeviceSlots } from './device-slots';
export type { StepProgress, CancelSignal } from './stages/denoise';
export {
  generateRequestSchema,
  sdxlSizeFields,
  resolveRequest,
  resolveRequestWithImages,
  checkInputImage,
  generationMode,
  sizeForImage,
  sha256Of,
  requestLimits,
  resizeModes,
  DEFAULT_IMG2IMG_STRENGTH,
  DEFAULT_INPAINT_STRENGTH,
  MAX_SEED,
  type GenerateRequest,
  type PipelineRequest,
  type GenerationMode,
  type RequestImages,
  type ResizeMode,
  type ResolvedRequest,
  type OutputFormat,
} from './generate-request';
export { probeImage, orientedSize, type ImageProbe, type ProbedFormat } from './image/probe-image';
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
export {
  readModelDirectory,
  assertDeviceAvailable,
  surveyDevices,
  probeWebgpu,
  type DeviceStatus,
  modelModes,
  modelModesFromDirectory,
  checkModelMode,
  type ModelDirectory,
  type ModelModes,
  type ModeSupport,
} from './model';
export {
  ensureDemoModel,
  writeDemoModel,
  DEMO_MODEL_IDS,
  type DemoVariant,
  writeFixtureModel,
  fixtureVariants,
  type FixtureOptions,
} from './demo';
export { readPngTextChunks, parseA1111Parameters, formatA1111Parameters } from './image';
