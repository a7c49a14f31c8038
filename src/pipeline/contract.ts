/**
 * The pipeline's request contract — what one generation takes, its limits and
 * defaults, the scheduler names and what a model directory declares — on its
 * own. Nothing imported from here loads onnxruntime (or any inference code),
 * so API processes (api/, jobs/) and clients can validate and resolve requests
 * without the inference engine; the pipeline index re-exports the same names.
 * A test (test/api/no-inference-engine.test.ts) keeps it that way.
 */
export {
  generateRequestSchema,
  resolveRequest,
  randomSeed,
  requestLimits,
  MAX_SEED,
  DEFAULT_STEPS,
  DEFAULT_GUIDANCE_SCALE,
  sdxlSizeFields,
  type GenerateRequest,
  type PipelineRequest,
  type ResolvedRequest,
  type RequestDefaults,
  type OutputFormat,
} from './generate-request';
export { schedulerNames, type SchedulerName } from './schedulers/types';
export { checkSchedulerRequest } from './schedulers/check-scheduler-request';
export { modelDefaults, type ModelDefaults } from './model-defaults';
export { readModelDirectory, type ModelDirectory } from './model/model-directory';
export type { ModelInfo } from './stable-diffusion-pipeline';
