import { requestError } from './config';
import { DdimScheduler } from './ddim';
import { DpmSolverMultistepScheduler } from './dpm-solver-multistep';
import { EulerAncestralScheduler } from './euler-ancestral';
import { EulerDiscreteScheduler } from './euler-discrete';
import { LcmScheduler } from './lcm';
import { PndmScheduler } from './pndm';
import {
  schedulerNames,
  type CreateSchedulerOptions,
  type Scheduler,
  type SchedulerConfig,
  type SchedulerName,
} from './types';

type RawConfig = Readonly<Record<string, unknown>>;

interface Factory {
  readonly karras: boolean;
  create(config: RawConfig, karras: boolean | undefined): Scheduler;
}

const factories: { readonly [N in SchedulerName]: Factory } = {
  euler: { karras: true, create: (config, karras) => new EulerDiscreteScheduler(config, karras) },
  euler_a: { karras: true, create: (config, karras) => new EulerAncestralScheduler(config, karras) },
  ddim: { karras: false, create: (config) => new DdimScheduler(config) },
  pndm: { karras: false, create: (config) => new PndmScheduler(config) },
  dpmpp_2m: { karras: true, create: (config, karras) => new DpmSolverMultistepScheduler(config, karras) },
  lcm: { karras: false, create: (config) => new LcmScheduler(config) },
};

/** True when `name` is one of {@link schedulerNames}. */
export function isSchedulerName(name: unknown): name is SchedulerName {
  return typeof name === 'string' && (schedulerNames as readonly string[]).includes(name);
}

/**
 * A new scheduler, configured from a model's `scheduler_config.json` with the
 * semantics of the diffusers class the name stands for: euler =
 * EulerDiscreteScheduler, euler_a = EulerAncestralDiscreteScheduler, ddim =
 * DDIMScheduler (η = 0), pndm = PNDMScheduler, dpmpp_2m =
 * DPMSolverMultistepScheduler (dpmsolver++, order 2), lcm = LCMScheduler.
 * Missing keys take that class's defaults; keys it does not accept are ignored.
 * Every call returns an independent object.
 *
 * @throws GiraffeError `GIRAFFE_ERR_REQUEST_INVALID` for an unknown name or
 *   `karras` on a scheduler without Karras sigmas; `GIRAFFE_ERR_MODEL_CONTRACT`
 *   for a malformed or unsupported config.
 */
export function createScheduler(
  name: SchedulerName | string,
  config: Partial<SchedulerConfig> | Record<string, unknown>,
  options: CreateSchedulerOptions = {},
): Scheduler {
  if (!isSchedulerName(name)) {
    throw requestError(
      `Unknown scheduler ${JSON.stringify(name)}; valid names are ${schedulerNames.join(', ')}`,
      {
        scheduler: name,
        valid: [...schedulerNames],
      },
    );
  }
  const factory = factories[name];
  if (options.karras === true && !factory.karras) {
    const supported = schedulerNames.filter((n) => factories[n].karras);
    throw requestError(`Scheduler ${name} has no Karras sigmas; they exist for ${supported.join(', ')}`, {
      field: 'karras',
      scheduler: name,
    });
  }
  return factory.create(config as RawConfig, factory.karras ? options.karras : undefined);
}
