import type { PipelineRequest, ResolvedRequest } from './generate-request';
import {
  StableDiffusionPipeline,
  type GenerateOptions,
  type GenerateResult,
  type ModelInfo,
  type PipelineOptions,
} from './stable-diffusion-pipeline';
import { ThreadedPipeline } from './thread/threaded-pipeline';

/** What both the threaded and the in-thread pipeline offer. */
export interface Pipeline {
  readonly info: ModelInfo;
  /** The request with every default filled in (validated: a bad one throws GIRAFFE_ERR_INVALID_REQUEST). */
  resolve(request: PipelineRequest): ResolvedRequest;
  /** Runs one generation (validated as {@link resolve} does, since JavaScript callers pass anything). */
  generate(request: PipelineRequest, options?: GenerateOptions): Promise<GenerateResult>;
  close(): Promise<void>;
}

export interface LoadPipelineOptions extends PipelineOptions {
  /**
   * Run inference in a worker thread. Leave it on in anything that also
   * serves requests: `session.run()` blocks its thread for a whole step.
   * @defaultValue true
   */
  readonly thread?: boolean;
}

/** Loads a Stable Diffusion ONNX export; by default its sessions live in a worker thread. */
export async function loadPipeline(modelDir: string, options: LoadPipelineOptions = {}): Promise<Pipeline> {
  const { thread = true, ...settings } = options;
  return thread
    ? ThreadedPipeline.start(modelDir, settings)
    : StableDiffusionPipeline.load(modelDir, settings);
}
