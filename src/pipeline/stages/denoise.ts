import { GiraffeError } from '../../errors';
import type { LoadedModel } from '../model';
import type { FeedValue } from '../model/onnx-component';
import type { NumpyRandomState } from '../random';
import type { Scheduler } from '../schedulers';
import type { PromptEmbeddings } from './encode-prompt';

/** What the pipeline reports after every denoising step. */
export interface StepProgress {
  /** 1-based index of the step just finished. */
  readonly step: number;
  /** Number of U-Net evaluations in this run (PNDM's PLMS warm-up adds one). */
  readonly steps: number;
  readonly timestep: number;
  /** The latents after this step, [batch, channels, height/8, width/8]. */
  readonly latents: Float32Array;
  /** The predicted clean latents x₀ at this step: what previews are made from. */
  readonly predictedOriginal: Float32Array;
  readonly shape: readonly [number, number, number, number];
}

/** Anything with an `aborted` flag: an AbortSignal, or the inference thread's shared cancel flag. */
export interface CancelSignal {
  readonly aborted: boolean;
}

export interface DenoiseInput {
  readonly model: LoadedModel;
  readonly scheduler: Scheduler;
  readonly latents: Float32Array;
  readonly shape: readonly [number, number, number, number];
  readonly embeddings: PromptEmbeddings;
  readonly guidanceScale: number;
  /** True when the embeddings hold an unconditional half first (classifier-free guidance). */
  readonly classifierFree: boolean;
  /** Guidance embedding for LCM-distilled U-Nets (`timestep_cond`), one row per image. */
  readonly timestepCond?: Float32Array;
  /** Draws the noise of stochastic schedulers; continues the seed's stream after the initial latents. */
  readonly rng: NumpyRandomState;
  readonly onStep?: (progress: StepProgress) => void;
  readonly signal?: CancelSignal;
}

function checkFinite(data: Float32Array, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_OUTPUT_INVALID',
        `${what} contains ${Number.isNaN(data[i]) ? 'NaN' : 'infinite'} values`,
      );
    }
  }
}

export function throwIfCanceled(signal: CancelSignal | undefined): void {
  if (signal?.aborted)
    throw new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'the generation was canceled');
}

/** Runs the U-Net over `batch` items, in chunks no larger than the export's fixed batch size. */
async function predictNoise(
  input: DenoiseInput,
  sample: Float32Array,
  batch: number,
  timestep: number,
): Promise<Float32Array> {
  const { model, embeddings, timestepCond } = input;
  const c = model.contract.unet;
  const [, channels, h, w] = input.shape;
  const perSample = channels * h * w;
  const perText = embeddings.tokens * embeddings.width;
  const condDim = c.timestepCondDim ?? 0;
  const chunk = Math.min(batch, c.maxBatch);
  const out = new Float32Array(batch * perSample);
  for (let start = 0; start < batch; start += chunk) {
    const n = Math.min(chunk, batch - start);
    const tsLength = c.timestepLength ?? n;
    const feeds: Record<string, FeedValue> = {
      sample: {
        data: sample.subarray(start * perSample, (start + n) * perSample),
        dims: [n, channels, h, w],
      },
      timestep: {
        data: new Float32Array(c.timestepRank === 0 ? 1 : tsLength).fill(timestep),
        dims: c.timestepRank === 0 ? [] : [tsLength],
      },
      encoder_hidden_states: {
        data: embeddings.data.subarray(start * perText, (start + n) * perText),
        dims: [n, embeddings.tokens, embeddings.width],
      },
    };
    if (timestepCond && condDim) {
      feeds.timestep_cond = {
        data: timestepCond.subarray(start * condDim, (start + n) * condDim),
        dims: [n, condDim],
      };
    }
    const result = await model.unet.run(feeds, [c.output]);
    out.set(result[c.output].data, start * perSample);
  }
  return out;
}

/**
 * The denoising loop: scale the input, predict noise (with classifier-free
 * guidance as one batched U-Net call: unconditional half first), let the
 * scheduler step, report progress, and stop between steps when canceled.
 */
export async function denoise(input: DenoiseInput): Promise<Float32Array> {
  const { scheduler, classifierFree, onStep, signal } = input;
  const count = input.latents.length;
  const timesteps = scheduler.timesteps;
  const guidance = Math.fround(input.guidanceScale);
  let latents = input.latents;
  for (let i = 0; i < timesteps.length; i++) {
    throwIfCanceled(signal);
    const t = timesteps[i];
    const scaled = scheduler.scaleModelInput(latents, t);
    let modelInput = scaled;
    if (classifierFree) {
      modelInput = new Float32Array(count * 2);
      modelInput.set(scaled, 0);
      modelInput.set(scaled, count);
    }
    const prediction = await predictNoise(
      input,
      modelInput,
      classifierFree ? input.shape[0] * 2 : input.shape[0],
      t,
    );
    checkFinite(prediction, `unet output at step ${i + 1}`);
    let noise = prediction;
    if (classifierFree) {
      // ε = ε_u + w(ε_c − ε_u), rounded to float32 at each operation as numpy does.
      noise = new Float32Array(count);
      for (let k = 0; k < count; k++) {
        const u = prediction[k];
        noise[k] = u + Math.fround(guidance * Math.fround(prediction[count + k] - u));
      }
    }
    const stepNoise = scheduler.isStochastic ? input.rng.randnFloat32(count) : undefined;
    const result = scheduler.step(noise, t, latents, stepNoise ? { noise: stepNoise } : undefined);
    latents = result.prevSample;
    onStep?.({
      step: i + 1,
      steps: timesteps.length,
      timestep: t,
      latents,
      predictedOriginal: result.predOriginalSample,
      shape: input.shape,
    });
  }
  checkFinite(latents, 'the final latents');
  return latents;
}
