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

/** Defaults from a model directory's configs (no sessions needed). */
export function modelDefaults(directory: ModelDirectory): ModelDefaults {
  return {
    width: directory.defaultImageSize,
    height: directory.defaultImageSize,
    steps: DEFAULT_STEPS,
    guidance_scale: DEFAULT_GUIDANCE_SCALE,
    scheduler: schedulerByClass[String(directory.schedulerConfig._class_name ?? '')] ?? 'euler',
  };
}
