import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { SD15_SCHEDULE } from './sd-schedule';

/** Writes pretty JSON with a trailing newline, as `save_pretrained` does. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, JSON.stringify(value, null, 2) + '\n');
}

/** `model_index.json` of an ONNX Stable Diffusion pipeline with text encoder, U-Net and VAE decoder. */
export function modelIndex(): Record<string, unknown> {
  return {
    _class_name: 'OnnxStableDiffusionPipeline',
    _diffusers_version: '0.30.0',
    feature_extractor: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', 'PNDMScheduler'],
    text_encoder: ['diffusers', 'OnnxRuntimeModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'OnnxRuntimeModel'],
    vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
  };
}

/**
 * SD 1.5's `scheduler_config.json` (PNDM, PLMS only). Like the real file it
 * names no `timestep_spacing`, so each scheduler uses its own default.
 */
export function sd15SchedulerConfig(): Record<string, unknown> {
  return {
    _class_name: 'PNDMScheduler',
    _diffusers_version: '0.30.0',
    beta_end: SD15_SCHEDULE.betaEnd,
    beta_schedule: 'scaled_linear',
    beta_start: SD15_SCHEDULE.betaStart,
    clip_sample: false,
    num_train_timesteps: SD15_SCHEDULE.trainSteps,
    prediction_type: 'epsilon',
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    trained_betas: null,
  };
}

/** `vae_decoder/config.json`: an AutoencoderKL config carrying the fields the pipeline reads. */
export function vaeConfig(sampleSize: number, blockOutChannels: readonly number[]): Record<string, unknown> {
  return {
    _class_name: 'AutoencoderKL',
    _diffusers_version: '0.30.0',
    act_fn: 'silu',
    block_out_channels: blockOutChannels,
    in_channels: 3,
    latent_channels: 4,
    norm_num_groups: blockOutChannels.length > 0 ? Math.min(...blockOutChannels, 32) : 32,
    out_channels: 3,
    sample_size: sampleSize,
    scaling_factor: 0.18215,
  };
}

/** `unet/config.json`, the subset optimum writes that describes shapes (`extra`: SDXL's addition fields). */
export function unetConfig(
  sampleSize: number,
  crossAttentionDim: number,
  inChannels = 4,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    _class_name: 'UNet2DConditionModel',
    _diffusers_version: '0.30.0',
    cross_attention_dim: crossAttentionDim,
    in_channels: inChannels,
    out_channels: 4,
    sample_size: sampleSize,
    ...extra,
  };
}

/**
 * `model_index.json` of an SDXL export (optimum's layout): two tokenizers and
 * text encoders, and `force_zeros_for_empty_prompt` as Stability ships it.
 */
export function sdxlModelIndex(): Record<string, unknown> {
  return {
    _class_name: 'StableDiffusionXLPipeline',
    _diffusers_version: '0.30.0',
    force_zeros_for_empty_prompt: true,
    scheduler: ['diffusers', 'EulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  };
}

/** Scheduler configs of the families a fixture imitates (the fields that differ from SD 1.5's). */
export const schedulerConfigs = {
  sd15: sd15SchedulerConfig,
  /** SDXL base 1.0: Euler with leading spacing. */
  sdxl: () => ({
    ...sd15SchedulerConfig(),
    _class_name: 'EulerDiscreteScheduler',
    interpolation_type: 'linear',
    timestep_spacing: 'leading',
    use_karras_sigmas: false,
  }),
  /** SDXL-Turbo: Euler ancestral with trailing spacing (one step starts at t = 999). */
  'sdxl-turbo': () => ({
    ...sd15SchedulerConfig(),
    _class_name: 'EulerAncestralDiscreteScheduler',
    timestep_spacing: 'trailing',
  }),
  /** SD-Turbo: Euler with trailing spacing. */
  'sd-turbo': () => ({
    ...sd15SchedulerConfig(),
    _class_name: 'EulerDiscreteScheduler',
    timestep_spacing: 'trailing',
  }),
  /** LCM-distilled models (latent-consistency/lcm-sdxl, LCM-LoRA fused). */
  lcm: () => ({
    ...sd15SchedulerConfig(),
    _class_name: 'LCMScheduler',
    original_inference_steps: 50,
    timestep_scaling: 10,
    timestep_spacing: 'leading',
  }),
} as const;
export type SchedulerFamily = keyof typeof schedulerConfigs;
