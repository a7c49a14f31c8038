import type { ModelDirectory } from './model';
import { DEFAULT_GUIDANCE_SCALE, DEFAULT_STEPS } from './generate-request';
import type { SchedulerName } from './schedulers';

/** Request defaults a model implies. */
export interface ModelDefaults {
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly guidance_scale: number;
  readonly scheduler: SchedulerName;
}

/** diffusers scheduler classes → our names; the model's own scheduler is its default. */
const schedulerByClass: Record<string, SchedulerName> = {
  PNDMScheduler: 'pndm',
  DDIMScheduler: 'ddim',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler_a',
  DPMSolverMultistepScheduler: 'dpmpp_2m',
  LCMScheduler: 'lcm',
};

/**
 * Steps and guidance for the model's family, read from its configs alone:
 * - adversarially distilled models (SD-Turbo, SDXL-Turbo) ship an Euler or
 *   Euler a config with `trailing` spacing: one step, no guidance;
 * - LCM-distilled models ship `LCMScheduler`: 4 steps, guidance 8.5 where the
 *   U-Net embeds it (`time_cond_proj_dim`, as diffusers' LCM pipeline), else 1
 *   (LCM-LoRA fused: no classifier-free guidance);
 * - SDXL (a second text encoder): diffusers' guidance 5;
 * - the rest: {@link DEFAULT_STEPS} and {@link DEFAULT_GUIDANCE_SCALE}.
 */
function stepsAndGuidance(
  directory: ModelDirectory,
  scheduler: SchedulerName,
): { steps: number; guidance_scale: number } {
  const spacing = directory.schedulerConfig.timestep_spacing;
  if ((scheduler === 'euler' || scheduler === 'euler_a') && spacing === 'trailing')
    return { steps: 1, guidance_scale: 0 };
  if (scheduler === 'lcm') {
    const embedsGuidance = typeof directory.unetConfig.time_cond_proj_dim === 'number';
    return { steps: 4, guidance_scale: embedsGuidance ? 8.5 : 1 };
  }
  if (directory.second) return { steps: DEFAULT_STEPS, guidance_scale: 5 };
  return { steps: DEFAULT_STEPS, guidance_scale: DEFAULT_GUIDANCE_SCALE };
}

/** Defaults from a model directory's configs (no sessions needed). */
export function modelDefaults(directory: ModelDirectory): ModelDefaults {
  const scheduler = schedulerByClass[String(directory.schedulerConfig._class_name ?? '')] ?? 'euler';
  return {
    width: directory.defaultImageSize,
    height: directory.defaultImageSize,
    ...stepsAndGuidance(directory, scheduler),
    scheduler,
  };
}
