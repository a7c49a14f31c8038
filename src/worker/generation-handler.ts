import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { env as ortEnv } from 'onnxruntime-node';
import { GiraffeError } from '../errors';
import {
  inputImageNames,
  type JobRecord,
  type JobResult,
  type ReproducibilityRecord,
  type ResolvedJobRequest,
} from '../jobs';
import type { DeviceSlots, GenerateRequest, ModelInfo } from '../pipeline';
import type { Logger } from 'pino';
import { isGiraffeError } from '../errors';
import type { CheckpointStore, JobContext, JobHandler, ResultStore } from '../queue';
import { JobCheckpoints } from './job-checkpoints';
import type { ModelFingerprint } from './model-fingerprint';
import { LatestProgress } from './latest-progress';
import { latentRgbFactors } from '../pipeline/preview';
import type { ModelHost } from './model-host';
import { PreviewMaker } from './preview-maker';

const contentTypes = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;

let packageVersion: string | undefined;

/** giraffe's version, from package.json (two levels up from both src/worker and dist/worker). */
function giraffeVersion(): string {
  packageVersion ??= (
    JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  return packageVersion;
}

/** Schedulers whose config key `use_karras_sigmas` applies when the request does not ask for Karras sigmas. */
const configKarras = new Set(['euler', 'dpmpp_2m']);

/** How the first draws of the seed's stream are used, per mode (diffusers' ONNX pipelines' order). */
function initialNoise(request: ResolvedJobRequest): string {
  const draw = 'randn(num_images, latent_channels, height/8, width/8) in C order, float64 cast to float32';
  if (request.image_sha256 === undefined) return `${draw}, times float32(init_noise_sigma)`;
  if (request.mask_image_sha256 !== undefined)
    return (
      `${draw}: for a 9-channel inpainting U-Net the initial latents (times init_noise_sigma); ` +
      `for a 4-channel model the add_noise noise of the encoded image_sha256 at the strength's timestep, ` +
      'reused to re-noise the kept region after every step'
    );
  return `${draw}: the add_noise noise of the encoded image (image_sha256) at the strength's timestep`;
}

/** What a generation depended on; see {@link ReproducibilityRecord}. */
function reproducibilityRecord(
  model: string,
  info: ModelInfo,
  fingerprint: ModelFingerprint,
  request: ResolvedJobRequest,
  images: readonly Buffer[],
): ReproducibilityRecord {
  const config = info.schedulerConfig;
  return {
    giraffe_version: giraffeVersion(),
    model: { id: model, ...fingerprint, precision: info.precision },
    runtime: {
      onnxruntime_node: ortEnv.versions.node ?? ortEnv.versions.common,
      execution_provider: info.device.startsWith('cuda') ? 'cuda' : info.device,
      device: info.device,
      node: process.versions.node,
      platform: process.platform,
      arch: process.arch,
    },
    scheduler: {
      name: request.scheduler,
      karras: request.karras,
      karras_sigmas:
        request.karras || (configKarras.has(request.scheduler) && config.use_karras_sigmas === true),
      config,
    },
    rng: {
      seed: request.seed,
      algorithm:
        'numpy.random.RandomState(seed): MT19937 seeded with init_genrand(seed), 53-bit doubles, ' +
        'legacy polar (Marsaglia) Gaussian with its cached second value',
      initial_noise: initialNoise(request),
      step_noise:
        'stochastic schedulers (euler_a, lcm) draw randn of the latents size after every U-Net call ' +
        '(lcm leaves its last draw unused) from the same stream, continuing after the initial noise, ' +
        'cast to float32; the others draw nothing',
    },
    request,
    images_sha256: images.map((data) => createHash('sha256').update(data).digest('hex')),
  };
}

export interface GenerationHandlerOptions {
  readonly previewMinIntervalMs?: number;
  /** Where running jobs keep their checkpoints, and how often they take one; absent: none are taken. */
  readonly checkpoints?: { readonly store: CheckpointStore; readonly intervalMs: number };
  readonly logger?: Logger;
  /**
   * The device's turns, shared by every job of this handler (see
   * {@link DeviceSlots}); absent: each copy's thread runs its jobs one at a time.
   */
  readonly deviceSlots?: DeviceSlots;
}

/** Whether a failed run's checkpoint is worth keeping: for a retry or another worker, not after a final end. */
function keepsCheckpoint(err: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return !isGiraffeError(signal.reason, 'GIRAFFE_ERR_GENERATION_CANCELED');
  return !isGiraffeError(err) || err.retryable;
}

/**
 * The pipeline's request for a job: its resolved request, with the input
 * images (stored by the API, named in the record by reference) read back as
 * Buffers. The pipeline checks them against the request's `image_sha256` /
 * `mask_image_sha256`. Bytes that are gone (retention passed) fail the job
 * for good: a retry cannot bring them back.
 */
async function pipelineRequest(job: JobRecord, results: ResultStore): Promise<GenerateRequest> {
  const request: Record<string, unknown> = {};
  // Only the fields that are set: the pipeline's schema is strict.
  for (const [key, value] of Object.entries(job.request)) if (value !== undefined) request[key] = value;
  for (const name of inputImageNames) {
    if (!job.request[name]) continue;
    const stored = await results.getInput(job.id, name);
    if (!stored) {
      throw new GiraffeError(
        'GIRAFFE_ERR_INPUT_IMAGE_INVALID',
        `${name}: the job's input image is no longer stored (its retention time passed); submit the job again`,
        { field: name },
      );
    }
    request[name] = stored.data;
  }
  // The record's fields were validated at submit; the pipeline checks them again.
  return request as GenerateRequest;
}

/** A resolved request as the job record keeps it: input images by reference. */
function withInputRefs(ran: object, recorded: ResolvedJobRequest): ResolvedJobRequest {
  const out: Record<string, unknown> = { ...ran };
  for (const name of inputImageNames) {
    if (recorded[name]) out[name] = recorded[name];
    else delete out[name];
  }
  return out as unknown as ResolvedJobRequest;
}

/**
 * Runs a job on a loaded model: generates with the job's resolved request
 * (seed included, so a retry on another worker makes the same bytes), reports
 * every step and a preview made from its predicted x₀, stores the images, and
 * returns the result the queue records, with the reproducibility record
 * that says what the images depended on.
 */
export function createGenerationHandler(
  models: ModelHost,
  results: ResultStore,
  options: GenerationHandlerOptions = {},
): JobHandler {
  return async (job: JobRecord, context: JobContext): Promise<JobResult> => {
    let deviceDone = false;
    let giveBack = (): void => undefined;
    let release = (): void => undefined;
    // Once the last session.run has returned, the copy, the model and the device may serve the
    // next job while this one's images are encoded and stored.
    const onDeviceIdle = (): void => {
      if (deviceDone) return;
      deviceDone = true;
      giveBack();
      release();
    };
    try {
      // Loads the model if need be; the host cannot unload it until the job releases it.
      const acquired = await models.acquire(job.model);
      release = acquired.release;
      const { pool } = acquired;
      // A job the worker took ahead goes to the copy's thread now, with its inputs, and waits there
      // for its turn on the device (DeviceSlots): it starts the moment the job before it ends.
      const borrowed = pool.borrow();
      giveBack = borrowed.giveBack;
      const { pipeline } = borrowed;
      const started = performance.now();
      const previews = new PreviewMaker(context, {
        minIntervalMs: options.previewMinIntervalMs,
        taesd: pool.taesd,
        factors: latentRgbFactors[pipeline.info.latentFormat],
      });
      // Progress goes out in step order, the newest only while the bus is slow (or away): a slow bus
      // never blocks the denoising thread, and what waits for it stays bounded.
      const progress = new LatestProgress((p) => context.progress(p));
      const checkpoints =
        options.checkpoints &&
        new JobCheckpoints(
          options.checkpoints.store,
          job.id,
          options.checkpoints.intervalMs,
          options.logger?.child({ job_id: job.id }),
        );
      // An earlier attempt (a killed or stopped worker) may have left the denoising state it reached.
      const resumeFrom = await checkpoints?.load();
      let resumed = 0;
      const output = await pipeline
        .generate(await pipelineRequest(job, results), {
          signal: context.signal,
          resumeFrom,
          checkpoint: checkpoints?.options,
          onDeviceIdle,
          deviceSlots: options.deviceSlots,
          onStep: (p) => {
            const elapsed = performance.now() - started;
            // A resumed run's first step says so; its ETA counts only the steps this attempt ran.
            // (A checkpoint counts U-Net calls; progress, the requested steps: PNDM makes one call more.)
            if (resumed === 0 && resumeFrom !== undefined && p.unetCall === resumeFrom.step + 1)
              resumed = p.step - 1;
            const eta = (elapsed / (p.step - resumed)) * (p.steps - p.step);
            progress.offer({
              step: p.step,
              steps: p.steps,
              elapsed_ms: Math.round(elapsed),
              eta_ms: Math.round(eta),
              ...(resumed > 0 ? { resumed_from_step: resumed } : {}),
            });
            previews.offer(p);
          },
        })
        .catch(async (err: unknown) => {
          // Handed back or retried: the next attempt resumes from the state this one reached.
          if (keepsCheckpoint(err, context.signal)) await checkpoints?.flush();
          else await checkpoints?.discard();
          throw err;
        });
      await progress.flush();
      // The last step's preview goes out before the job's final event.
      await previews.flush();
      const contentType = contentTypes[output.request.output_format];
      await Promise.all(
        output.images.map((data, index) => results.put(job.id, index, { data, content_type: contentType })),
      );
      await checkpoints?.discard();
      return {
        images: output.images.map((data, index) => ({
          index,
          content_type: contentType,
          bytes: data.length,
        })),
        seed: output.seed,
        width: output.width,
        height: output.height,
        parameters: output.parameters,
        timings: { ...output.timings },
        reproducibility: reproducibilityRecord(
          job.model,
          pipeline.info,
          pool.fingerprint,
          // The record names the input images by hash, as the job does; never their bytes.
          withInputRefs(output.request, job.request),
          output.images,
        ),
      };
    } finally {
      onDeviceIdle();
    }
  };
}
