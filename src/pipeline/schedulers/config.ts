import { GiraffeError } from '../../errors';
import type { SchedulerConfig, SchedulerName } from './types';

type ConfigKey = keyof SchedulerConfig;

/** Who reads a config, for error messages: a scheduler, or the shared noise-schedule helpers. */
export type ConfigOwner = SchedulerName | 'noise schedule';

/** A scheduler config with every key one scheduler reads filled in (its diffusers class defaults). */
export type ResolvedConfig<K extends ConfigKey> = {
  readonly [P in K]-?: Exclude<SchedulerConfig[P], undefined>;
};

interface Parser {
  /** What a valid value looks like, for the error message. */
  readonly expect: string;
  /** The parsed value, or undefined when the value is malformed. */
  parse(value: unknown): unknown;
}

const bool: Parser = { expect: 'a boolean', parse: (v) => (typeof v === 'boolean' ? v : undefined) };

const finite: Parser = {
  expect: 'a finite number',
  parse: (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined),
};

const positive: Parser = {
  expect: 'a positive number',
  parse: (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined),
};

function integer(min: number): Parser {
  return {
    expect: `an integer ≥ ${min}`,
    parse: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min ? v : undefined),
  };
}

function oneOf(...values: string[]): Parser {
  return {
    expect: `one of ${values.map((v) => `'${v}'`).join(', ')}`,
    parse: (v) => (typeof v === 'string' && values.includes(v) ? v : undefined),
  };
}

const parsers: { readonly [K in ConfigKey]-?: Parser } = {
  num_train_timesteps: integer(2),
  beta_start: finite,
  beta_end: finite,
  beta_schedule: oneOf('linear', 'scaled_linear', 'squaredcos_cap_v2'),
  trained_betas: {
    expect: 'an array of numbers in [0, 1)',
    parse: (v) =>
      Array.isArray(v) && v.every((b) => typeof b === 'number' && b >= 0 && b < 1) ? v : undefined,
  },
  steps_offset: integer(0),
  set_alpha_to_one: bool,
  skip_prk_steps: bool,
  prediction_type: oneOf('epsilon', 'v_prediction', 'sample'),
  timestep_spacing: oneOf('leading', 'trailing', 'linspace'),
  clip_sample: bool,
  clip_sample_range: positive,
  thresholding: bool,
  use_karras_sigmas: bool,
  sigma_min: positive,
  sigma_max: positive,
  final_sigmas_type: oneOf('zero', 'sigma_min'),
  rescale_betas_zero_snr: bool,
  lower_order_final: bool,
  euler_at_final: bool,
  solver_type: oneOf('midpoint', 'heun'),
  lambda_min_clipped: {
    expect: 'a number or "-Infinity"',
    // JSON cannot hold -inf; diffusers' configs write the string Python's json module emits.
    parse: (v) =>
      typeof v === 'number' && !Number.isNaN(v)
        ? v
        : v === '-Infinity' || v === '-inf'
          ? -Infinity
          : undefined,
  },
  original_inference_steps: integer(1),
  timestep_scaling: finite,
};

/** The error for a scheduler config that is malformed or asks for something giraffe does not implement. */
export function configError(scheduler: ConfigOwner, message: string, key?: string): GiraffeError {
  return new GiraffeError('GIRAFFE_ERR_MODEL_CONTRACT', `Scheduler config (${scheduler}): ${message}`, {
    scheduler,
    ...(key === undefined ? {} : { key }),
  });
}

/** The error for a request that asks a scheduler for something it cannot do. */
export function requestError(message: string, details: Record<string, unknown> = {}): GiraffeError {
  return new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', message, details);
}

/**
 * Overlays the keys of `raw` that one scheduler reads on that scheduler's
 * defaults. Like diffusers' `from_config`, keys outside `defaults` are ignored
 * and `null` keeps the default; unlike it, a malformed value is an error here
 * rather than a crash later.
 */
export function resolveConfig<K extends ConfigKey>(
  scheduler: ConfigOwner,
  raw: Readonly<Record<string, unknown>>,
  defaults: ResolvedConfig<K>,
): ResolvedConfig<K> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw configError(scheduler, 'the scheduler config must be a JSON object');
  }
  const out: Record<string, unknown> = { ...defaults };
  for (const key of Object.keys(defaults) as K[]) {
    const value = raw[key];
    if (value === undefined || value === null) continue;
    const parser = parsers[key];
    const parsed = parser.parse(value);
    if (parsed === undefined) {
      throw configError(scheduler, `${key} must be ${parser.expect} (got ${JSON.stringify(value)})`, key);
    }
    out[key] = parsed;
  }
  return out as ResolvedConfig<K>;
}

/**
 * Rejects keys that diffusers' class accepts but giraffe does not implement,
 * when they are switched on (`true`, or any value other than the default).
 */
export function rejectUnsupported(
  scheduler: ConfigOwner,
  raw: Readonly<Record<string, unknown>>,
  unsupported: Readonly<Record<string, { readonly allowed: readonly unknown[]; readonly why: string }>>,
): void {
  for (const [key, { allowed, why }] of Object.entries(unsupported)) {
    const value = raw[key];
    if (value === undefined || value === null || allowed.includes(value)) continue;
    throw configError(scheduler, `${key}=${JSON.stringify(value)} is not supported (${why})`, key);
  }
}

/** Dynamic thresholding (Imagen) is for pixel-space models; latent diffusion does not use it. */
export const noThresholding = {
  thresholding: { allowed: [false], why: 'dynamic thresholding is for pixel-space models' },
};
