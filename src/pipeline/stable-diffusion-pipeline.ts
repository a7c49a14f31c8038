import { performance } from 'node:perf_hooks';
import type { DeviceSlots } from './device-slots';
import { checkpointKey, CheckpointTaker, type CheckpointOptions, type DenoiseCheckpoint } from './checkpoint';
import {
  checkModelMode,
  loadModel,
  modelModes,
  type LoadedModel,
  type ModelModes,
  type SessionSettings,
} from './model';
import type { LatentFormat } from './preview';
import { NumpyRandomState } from './random';
import { createScheduler, lcmGuidanceEmbedding, schedulerNames, type SchedulerName } from './schedulers';
import {
  generationMode,
  resolveRequestWithImages,
  type PipelineRequest,
  type RequestImages,
  type ResolvedRequest,
} from './generate-request';
import { modelDefaults, type ModelDefaults } from './model-defaults';
import { decodeLatents } from './stages/decode-latents';
import type { GenerateResult, RenderedGeneration } from './generation-result';

export type { GenerateResult, GenerationTimings, RenderedGeneration } from './generation-result';
import { denoise, stepOfCall, throwIfCanceled, type CancelSignal, type StepProgress } from './stages/denoise';
import { encodeConditioning } from './stages/encode-conditioning';
import { finishImages, wallClockMs } from './stages/finish-images';
import { prepareModeLatents } from './stages/prepare-mode-latents';

/** Where and how the model's sessions run. */
export type PipelineOptions = SessionSettings;

export interface GenerateOptions {
  /** Called after every denoising step (on the thread that called `generate`). */
  readonly onStep?: (progress: StepProgress) => void;
  /** Checked between steps; an aborted signal ends the run with GIRAFFE_ERR_GENERATION_CANCELED. */
  readonly signal?: CancelSignal;
  /**
   * Continue from this checkpoint, made by a run of the same request on the
   * same model; one of any other request is ignored (the run starts over, and
   * the result's `resumed_from_step` is 0).
   */
  readonly resumeFrom?: DenoiseCheckpoint;
  /** Take checkpoints of the denoising state while it runs (and when canceled). */
  readonly checkpoint?: CheckpointOptions;
  /**
   * Called once the run's last `session.run` has returned (before the images
   * are turned into bytes and encoded), so a caller can give the device its
   * next job while this one is finished.
   */
  readonly onDeviceIdle?: () => void;
  /**
   * Turns on the device to take for the `session.run` calls, shared with other
   * pipelines (and threads); absent: this run does not wait for one.
   */
  readonly deviceSlots?: DeviceSlots;
}

/** What a loaded model offers, for listings and request defaults. */
export interface ModelInfo {
  readonly id: string;
  readonly dir: string;
  readonly device: string;
  readonly precision: 'float32' | 'float16';
  readonly schedulers: readonly SchedulerName[];
  readonly defaults: ModelDefaults;
  /** The model's `scheduler/scheduler_config.json`. */
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
  /** Whose VAE latents these are, for linear previews: SDXL's or SD 1.x/2.x's. */
  readonly latentFormat: LatentFormat;
  /** Which kinds of generation the model can do, and why not (no vae_encoder, inpainting U-Net …). */
  readonly modes: ModelModes;
}

/**
 * Stable Diffusion on onnxruntime, in the calling thread: checkInputs →
 * encodePrompt → prepareLatents → denoise → decode → encode image. Use
 * {@link loadPipeline} to run it in a worker thread instead.
 */
export class StableDiffusionPipeline {
  readonly info: ModelInfo;

  private constructor(readonly model: LoadedModel) {
    const d = model.directory;
    this.info = {
      id: d.id,
      dir: d.dir,
      device: model.device,
      precision: model.contract.unet.precision,
      schedulers: schedulerNames,
      defaults: modelDefaults(d),
      schedulerConfig: d.schedulerConfig,
      latentFormat: d.second ? 'sdxl' : 'sd1',
      modes: modelModes(model.contract),
    };
  }

  static async load(modelDir: string, options: PipelineOptions = {}): Promise<StableDiffusionPipeline> {
    return new StableDiffusionPipeline(await loadModel(modelDir, options));
  }

  /** Validates a request against this model and fills in its defaults. */
  resolve(request: PipelineRequest): ResolvedRequest {
    return this.#resolve(request).request;
  }

  #resolve(request: unknown): { request: ResolvedRequest; images: RequestImages } {
    const { defaults } = this.info;
    const resolved = resolveRequestWithImages(request, { ...defaults, size: defaults.width });
    checkModelMode(this.info.modes, generationMode(resolved.request), this.info.id);
    return resolved;
  }

  async generate(request: PipelineRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const rendered = await this.render(request, options);
    options.onDeviceIdle?.();
    return finishImages(rendered);
  }

  /**
   * A generation's device work: every `session.run`, up to the VAE decoder's
   * output. {@link generate} is this and {@link finishImages}; the threaded
   * pipeline runs the two on different threads.
   */
  async render(
    request: PipelineRequest,
    options: Omit<GenerateOptions, 'onDeviceIdle'> = {},
  ): Promise<RenderedGeneration> {
    const startedAt = wallClockMs();
    const { request: r, images: inputs } = this.#resolve(request);
    const { model } = this;
    const contract = model.contract.unet;
    throwIfCanceled(options.signal);
    const components = [
      model.textEncoder,
      ...(model.textEncoder2 ? [model.textEncoder2] : []),
      model.unet,
      model.vaeDecoder,
      ...(model.vaeEncoder ? [model.vaeEncoder] : []),
    ];
    for (const c of components) c.takeRunTime();

    const scheduler = createScheduler(
      r.scheduler,
      model.directory.schedulerConfig,
      r.karras ? { karras: true } : {},
    );
    scheduler.setTimesteps(r.steps);
    // LCM-distilled U-Nets take guidance as an embedding and need no unconditional batch.
    const lcmGuidance = contract.timestepCondDim !== undefined;
    const classifierFree = !lcmGuidance && r.guidance_scale > 1;

    // The device is taken only now: resolving and the scheduler's set-up need none.
    const leaveDevice = await options.deviceSlots?.take(options.signal);
    try {
      let t0 = performance.now();
      const { embeddings, added } = await encodeConditioning(model, r, classifierFree);
      const textEncoderMs = performance.now() - t0;

      const shape = [r.num_images, contract.latentChannels, r.height / 8, r.width / 8] as const;
      const rng = new NumpyRandomState(r.seed);
      const start = await prepareModeLatents(model, scheduler, rng, r, inputs, {
        batch: shape[0],
        channels: shape[1],
        height: shape[2],
        width: shape[3],
      });
      throwIfCanceled(options.signal);
      let timestepCond: Float32Array | undefined;
      if (lcmGuidance) {
        const row = lcmGuidanceEmbedding(r.guidance_scale, contract.timestepCondDim!);
        timestepCond = new Float32Array(row.length * r.num_images);
        for (let i = 0; i < r.num_images; i++) timestepCond.set(row, i * row.length);
      }

      const checkpoints = new CheckpointTaker(
        checkpointKey(model.directory.id, r),
        scheduler,
        rng,
        start.latents,
        options,
      );

      t0 = performance.now();
      const final = await denoise({
        model,
        scheduler,
        latents: checkpoints.startLatents,
        firstStep: start.firstStep,
        startStep: checkpoints.startStep,
        hooks: start.hooks,
        shape,
        embeddings,
        added,
        guidanceScale: r.guidance_scale,
        classifierFree,
        timestepCond,
        rng,
        steps: r.steps,
        onStep: checkpoints.wrap(options.onStep),
        signal: options.signal,
      }).catch((err: unknown) => {
        checkpoints.onStopped(err);
        throw err;
      });
      const denoiseMs = performance.now() - t0;

      t0 = performance.now();
      const decoded = await decodeLatents(model, final, shape[0], shape[2], shape[3]);
      const vaeMs = performance.now() - t0;

      return {
        decoded,
        request: r,
        model: model.directory.id,
        device: model.device,
        startedAt,
        timings: {
          text_encoder_ms: textEncoderMs,
          denoise_ms: denoiseMs,
          vae_decoder_ms: vaeMs,
          ...(inputs.image !== undefined
            ? { input_decode_ms: start.inputDecodeMs, vae_encoder_ms: start.vaeEncoderMs }
            : {}),
          session_run_ms: components.reduce((sum, c) => sum + c.takeRunTime(), 0),
          unet_calls: scheduler.timesteps.length - start.firstStep - checkpoints.startStep,
        },
        // In requested steps, as progress counts them (a checkpoint counts U-Net calls; PNDM makes one more).
        resumed_from_step:
          checkpoints.startStep === 0
            ? 0
            : stepOfCall(
                checkpoints.startStep - 1,
                scheduler.timesteps.length - start.firstStep,
                Math.min(r.steps, scheduler.timesteps.length - start.firstStep),
              ),
      };
    } finally {
      leaveDevice?.();
    }
  }

  async close(): Promise<void> {
    await this.model.release();
  }
}
