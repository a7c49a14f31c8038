import { GiraffeError } from '../../errors';
import type { LoadedModel } from '../model';
import type { FeedValue } from '../model/onnx-component';
import type { NumpyRandomState } from '../random';
import type { Scheduler } from '../schedulers';
import type { DenoiseHooks } from './denoise-hooks';
import type { PromptEmbeddings } from './encode-prompt';
import type { AddedConditioning } from './encode-prompt-sdxl';

/** What the pipeline reports after every denoising step. */
export interface StepProgress {
  /** 1-based index of the step just finished, 1 … {@link steps}. */
  readonly step: number;
  /**
   * The steps the request asked for. PNDM evaluates the U-Net once more
   * (its PLMS warm-up; 21 calls for 20 steps): progress still counts 20, one
   * report per step; timings and reproducibility count the calls (`unet_calls`).
   */
  readonly steps: number;
  /** The timestep of the step's last U-Net call. */
  readonly timestep: number;
  /** Every timestep the U-Net was called with for this step, in order (two for PNDM's first). */
  readonly unetTimesteps: readonly number[];
  /** U-Net calls of this run done so far, this step's included (what a checkpoint resumes after). */
  readonly unetCall: number;
  /** U-Net calls this run makes (the schedule's, less those image-to-image skips). */
  readonly unetCalls: number;
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
  /** More U-Net inputs by name (SDXL's `text_embeds`, `time_ids`), one row per item of the embeddings' batch. */
  readonly added?: AddedConditioning;
  /** Draws the noise of stochastic schedulers; continues the seed's stream after the initial latents. */
  readonly rng: NumpyRandomState;
  /**
   * The step count the request asked for, which progress counts (at most one per U-Net call of
   * this run). @defaultValue one per U-Net call
   */
  readonly steps?: number;
  /** U-Net calls of this run already done (resumed from a checkpoint): the loop starts after them (after `firstStep`). @defaultValue 0 */
  readonly startStep?: number;
  readonly onStep?: (progress: StepProgress) => void;
  readonly signal?: CancelSignal;
  /** Index in `scheduler.timesteps` of the first step (image-to-image starts part-way). @defaultValue 0 */
  readonly firstStep?: number;
  /** What the generation mode changes in the loop (image-to-image, inpainting). */
  readonly hooks?: DenoiseHooks;
}

/**
 * The requested step (1 … steps) that U-Net call `call` (0-based, of `calls`)
 * belongs to, the calls spread evenly over the steps from the start: with
 * PNDM's one extra call, the first two (its PLMS warm-up, which redoes the
 * first step from the same sample) make step 1. The last call ends the last step.
 */
export function stepOfCall(call: number, calls: number, steps: number): number {
  return call === calls - 1 ? steps : Math.floor((call * steps) / calls) + 1;
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

/**
 * ε = ε_u + w(ε_c − ε_u) for a prediction holding the unconditional half
 * first, rounded to float32 at each operation as numpy does. Written over the
 * unconditional half of `prediction` (an array this loop owns), which it
 * returns. Checks on the way that both halves are finite, failing with what
 * {@link checkFinite} of the whole prediction would say.
 */
function guide(prediction: Float32Array, count: number, guidance: number, step: number): Float32Array {
  const fround = Math.fround;
  for (let k = 0; k < count; k++) {
    const u = prediction[k];
    // In float64 the difference of two float32s cannot overflow: it is finite exactly when both are.
    const d = prediction[count + k] - u;
    if (d - d !== 0) {
      // Entries before k are overwritten but were finite; from k on both halves are untouched.
      checkFinite(prediction.subarray(k), unetOutput(step));
    }
    prediction[k] = u + fround(guidance * fround(d));
  }
  return prediction.subarray(0, count);
}

function unetOutput(step: number): string {
  return `unet output at step ${step}`;
}

/**
 * Runs the U-Net over `batch` items, in chunks no larger than the export's
 * fixed batch size. The result is a new array the caller owns: onnxruntime's
 * own output when one call covers the batch.
 */
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
  const inChannels = input.hooks?.sampleChannels ?? channels;
  const perInput = inChannels * h * w;
  const perText = embeddings.tokens * embeddings.width;
  const condDim = c.timestepCondDim ?? 0;
  const chunk = Math.min(batch, c.maxBatch);
  let out: Float32Array | null = null;
  for (let start = 0; start < batch; start += chunk) {
    const n = Math.min(chunk, batch - start);
    const tsLength = c.timestepLength ?? n;
    const feeds: Record<string, FeedValue> = {
      sample: {
        data: sample.subarray(start * perInput, (start + n) * perInput),
        dims: [n, inChannels, h, w],
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
    for (const [name, rows] of Object.entries(input.added ?? {})) {
      const width = rows.length / embeddings.batch;
      feeds[name] = { data: rows.subarray(start * width, (start + n) * width), dims: [n, width] };
    }
    if (timestepCond && condDim) {
      feeds.timestep_cond = {
        data: timestepCond.subarray(start * condDim, (start + n) * condDim),
        dims: [n, condDim],
      };
    }
    const result = await model.unet.run(feeds, [c.output]);
    const data = result[c.output].data;
    if (n === batch && data.length === batch * perSample) return data;
    out ??= new Float32Array(batch * perSample);
    out.set(data, start * perSample);
  }
  return out as Float32Array;
}

/**
 * The denoising loop: scale the input, predict noise (with classifier-free
 * guidance as one batched U-Net call: unconditional half first), let the
 * scheduler step, report progress, and stop between steps when canceled.
 */
export async function denoise(input: DenoiseInput): Promise<Float32Array> {
  const { scheduler, classifierFree, onStep, signal, hooks } = input;
  const count = input.latents.length;
  const timesteps = scheduler.timesteps;
  const first = input.firstStep ?? 0;
  const guidance = Math.fround(input.guidanceScale);
  const batch = classifierFree ? input.shape[0] * 2 : input.shape[0];
  const inputCount = (count / input.shape[1]) * (hooks?.sampleChannels ?? input.shape[1]);
  // The guided batch (the U-Net's sample twice), one buffer for every step:
  // onnxruntime reads it only during the awaited call.
  const doubled = classifierFree ? new Float32Array(inputCount * 2) : null;
  const calls = timesteps.length - first;
  const steps = Math.min(input.steps ?? calls, calls);
  let unetTimesteps: number[] = [];
  let latents = input.latents;
  for (let i = first + (input.startStep ?? 0); i < timesteps.length; i++) {
    throwIfCanceled(signal);
    const t = timesteps[i];
    const scaled = scheduler.scaleModelInput(latents, t);
    let modelInput = hooks?.modelInput ? hooks.modelInput(scaled) : scaled;
    if (doubled !== null) {
      doubled.set(modelInput, 0);
      doubled.set(modelInput, inputCount);
      modelInput = doubled;
    }
    const prediction = await predictNoise(input, modelInput, batch, t);
    let noise: Float32Array;
    if (doubled !== null) {
      noise = guide(prediction, count, guidance, i + 1 - first);
    } else {
      checkFinite(prediction, unetOutput(i + 1 - first));
      noise = prediction;
    }
    const stepNoise = scheduler.isStochastic ? input.rng.randnFloat32(count) : undefined;
    const result = scheduler.step(noise, t, latents, stepNoise ? { noise: stepNoise } : undefined);
    latents = hooks?.afterStep ? hooks.afterStep(result.prevSample, i) : result.prevSample;
    unetTimesteps.push(t);
    const step = stepOfCall(i - first, calls, steps);
    const last = i === timesteps.length - 1;
    // One report per requested step: a call that does not finish its step stays quiet.
    if (!last && stepOfCall(i + 1 - first, calls, steps) === step) continue;
    onStep?.({
      step,
      steps,
      timestep: t,
      unetTimesteps,
      unetCall: i + 1 - first,
      unetCalls: calls,
      latents,
      predictedOriginal: result.predOriginalSample,
      shape: input.shape,
    });
    unetTimesteps = [];
  }
  checkFinite(latents, 'the final latents');
  return latents;
}
