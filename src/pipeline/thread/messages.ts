import type { SerializedGiraffeError } from '../../errors';
import type { ModelInfo, PipelineOptions, RenderedGeneration } from '../stable-diffusion-pipeline';
import type { RequestImages, ResolvedRequest } from '../generate-request';
import type { DenoiseCheckpoint } from '../checkpoint';

/** Data the inference thread starts with. */
export interface ThreadData {
  readonly modelDir: string;
  readonly options: PipelineOptions;
  /** The process-wide webgpu lock (model/webgpu-lock.ts): threads must not race inside Dawn. */
  readonly webgpuLock: SharedArrayBuffer;
}

export type ToThread =
  | {
      readonly type: 'generate';
      readonly job: number;
      /** One Int32, set to 1 to cancel the job: read between steps without waiting for messages. */
      readonly cancel: SharedArrayBuffer;
      /** The device's turns (DeviceSlots) the job takes for its session.run calls, if any. */
      readonly deviceSlots?: SharedArrayBuffer;
      readonly request: ResolvedRequest;
      /** The input images' bytes, apart from the request (which only names their sha256). */
      readonly images: RequestImages;
      readonly wantSteps: boolean;
      readonly resumeFrom?: DenoiseCheckpoint;
      /** Checkpoints wanted this often (the main thread's `checkpoint.save` receives them). */
      readonly checkpointIntervalMs?: number;
    }
  | { readonly type: 'close' };

export type FromThread =
  | { readonly type: 'ready'; readonly info: ModelInfo }
  | { readonly type: 'load-failed'; readonly error: SerializedGiraffeError | { message: string } }
  | {
      readonly type: 'step';
      readonly job: number;
      readonly step: number;
      readonly steps: number;
      readonly timestep: number;
      readonly unetTimesteps: readonly number[];
      readonly unetCall: number;
      readonly unetCalls: number;
      readonly latents: Float32Array;
      readonly predictedOriginal: Float32Array;
      readonly shape: readonly [number, number, number, number];
    }
  | { readonly type: 'checkpoint'; readonly job: number; readonly checkpoint: DenoiseCheckpoint }
  /** The job's last `session.run` returned: the main thread finishes its images while the thread runs the next job. */
  | { readonly type: 'rendered'; readonly job: number; readonly rendered: RenderedGeneration }
  | {
      readonly type: 'failed';
      readonly job: number;
      readonly error: SerializedGiraffeError | { message: string };
    }
  | { readonly type: 'closed' };
