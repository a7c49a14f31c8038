import type { SchedulerName } from '../../../pipeline/schedulers/types';

/**
 * AUTOMATIC1111's sampler names for the schedulers giraffe runs, and nothing
 * else: a client picks from `GET /sdapi/v1/samplers`, so the list must be
 * exactly what a job can do. Aliases are A1111's own (its k-diffusion and
 * compvis names), matched without regard to case as A1111 does.
 */
export interface A1111Sampler {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly scheduler: SchedulerName;
  /** Whether the `Karras` schedule type applies (A1111 lists it for every sampler; we only for these). */
  readonly karras: boolean;
}

export const a1111Samplers: readonly A1111Sampler[] = [
  { name: 'Euler a', aliases: ['k_euler_a', 'k_euler_ancestral'], scheduler: 'euler_a', karras: true },
  { name: 'Euler', aliases: ['k_euler'], scheduler: 'euler', karras: true },
  { name: 'DPM++ 2M', aliases: ['k_dpmpp_2m'], scheduler: 'dpmpp_2m', karras: true },
  { name: 'DDIM', aliases: ['ddim'], scheduler: 'ddim', karras: false },
  // A1111 calls diffusers' PNDM (with skipped Runge–Kutta steps) by its paper's name, PLMS.
  { name: 'PLMS', aliases: ['plms', 'PNDM'], scheduler: 'pndm', karras: false },
  { name: 'LCM', aliases: ['k_lcm'], scheduler: 'lcm', karras: false },
];

/**
 * A1111's schedule types ("Schedule type" in infotext) that we honour.
 * `automatic` is the model's own timestep spacing; `uniform` and `normal`
 * (SillyTavern's default) are accepted as aliases of it, since both are the
 * plain evenly spaced schedule that our diffusers schedulers use by default.
 */
export interface A1111ScheduleType {
  readonly name: string;
  readonly label: string;
  readonly aliases: readonly string[];
  readonly karras: boolean;
  readonly default_rho: number | null;
}

export const a1111ScheduleTypes: readonly A1111ScheduleType[] = [
  { name: 'automatic', label: 'Automatic', aliases: ['uniform', 'normal'], karras: false, default_rho: null },
  { name: 'karras', label: 'Karras', aliases: [], karras: true, default_rho: 7 },
];

const byLowerName = new Map<string, A1111Sampler>();
for (const s of a1111Samplers) {
  for (const n of [s.name, ...s.aliases]) byLowerName.set(n.toLowerCase(), s);
}

/**
 * The sampler and Karras flag an A1111 `sampler_name` asks for, or undefined
 * when we do not run it. Old clients put the schedule in the name
 * ("DPM++ 2M Karras"); that is understood too.
 */
export function findSampler(name: string): { sampler: A1111Sampler; karras: boolean } | undefined {
  const lower = name.trim().toLowerCase();
  const direct = byLowerName.get(lower);
  if (direct) return { sampler: direct, karras: false };
  if (lower.endsWith(' karras')) {
    const base = byLowerName.get(lower.slice(0, -' karras'.length));
    if (base?.karras) return { sampler: base, karras: true };
  }
  return undefined;
}

/** The schedule type an A1111 `scheduler` names, or undefined when we have no such schedule. */
export function findScheduleType(name: string): A1111ScheduleType | undefined {
  const lower = name.trim().toLowerCase();
  return a1111ScheduleTypes.find(
    (t) => t.name === lower || t.label.toLowerCase() === lower || t.aliases.includes(lower),
  );
}

/** A1111's name for one of our schedulers (the reverse mapping, for `info` and `sampler_name`). */
export function a1111SamplerName(scheduler: string): string {
  return a1111Samplers.find((s) => s.scheduler === scheduler)?.name ?? scheduler;
}
