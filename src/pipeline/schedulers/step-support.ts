import type { SchedulerName, SchedulerState, StepOptions } from './types';

/**
 * diffusers' `index_for_timestep`: the position of `timestep` in the schedule;
 * the second match when it occurs twice, so that a run started mid-schedule
 * (img2img) does not skip a sigma. −1 when absent.
 */
export function indexForTimestep(timesteps: Float32Array, timestep: number): number {
  const value = Math.fround(timestep);
  const first = timesteps.indexOf(value);
  if (first < 0) return -1;
  const second = timesteps.indexOf(value, first + 1);
  return second < 0 ? first : second;
}

/**
 * The step index of a scheduler that counts its steps, initialised the first
 * time a step or an input scaling sees a timestep, as in diffusers.
 */
export class StepCounter {
  #index: number | null = null;

  constructor(readonly scheduler: SchedulerName) {}

  /** The current step index; looks `timestep` up on first use. */
  current(timesteps: Float32Array, timestep: number, fallback?: number): number {
    if (timesteps.length === 0) throw notReady(this.scheduler);
    if (this.#index === null) {
      const found = indexForTimestep(timesteps, timestep);
      if (found < 0 && fallback === undefined) {
        throw new RangeError(`Scheduler ${this.scheduler}: timestep ${timestep} is not in its schedule`);
      }
      this.#index = found < 0 ? (fallback as number) : found;
    }
    if (this.#index >= timesteps.length) {
      throw new RangeError(`Scheduler ${this.scheduler}: all ${timesteps.length} steps are done`);
    }
    return this.#index;
  }

  advance(): void {
    if (this.#index !== null) this.#index += 1;
  }

  reset(): void {
    this.#index = null;
  }

  /** The index for a checkpoint: null until the first step looked its timestep up. */
  get saved(): number | null {
    return this.#index;
  }

  restore(index: number | null): void {
    this.#index = index;
  }
}

/** A number from a saved scheduler state; a state of another scheduler or version is refused. */
export function stateNumber(scheduler: SchedulerName, state: SchedulerState, key: string): number | null {
  const value = state[key];
  if (value === null || typeof value === 'number') return value;
  throw new TypeError(`Scheduler ${scheduler}: saved state has no number "${key}"`);
}

/** A float32 array (or null) from a saved scheduler state, copied. */
export function stateArray(
  scheduler: SchedulerName,
  state: SchedulerState,
  key: string,
): Float32Array | null {
  const value = state[key];
  if (value === null) return null;
  if (value instanceof Float32Array) return value.slice();
  throw new TypeError(`Scheduler ${scheduler}: saved state has no array "${key}"`);
}

/** The error for stepping a scheduler whose timesteps were never set. */
export function notReady(scheduler: SchedulerName): Error {
  return new Error(`Scheduler ${scheduler}: call setTimesteps() before stepping`);
}

/** Rejects a model output whose size differs from the sample's. */
export function checkSameSize(
  scheduler: SchedulerName,
  modelOutput: Float32Array,
  sample: Float32Array,
): void {
  if (modelOutput.length !== sample.length) {
    throw new RangeError(
      `Scheduler ${scheduler}: model output has ${modelOutput.length} values but the sample has ${sample.length}`,
    );
  }
}

/** The step's noise; an error that says what is missing when the caller did not pass it. */
export function requireNoise(
  scheduler: SchedulerName,
  options: StepOptions | undefined,
  length: number,
): Float32Array {
  const noise = options?.noise;
  if (noise === undefined) {
    throw new TypeError(
      `Scheduler ${scheduler} is stochastic: pass this step's standard-normal noise as options.noise`,
    );
  }
  if (noise.length !== length) {
    throw new RangeError(
      `Scheduler ${scheduler}: noise has ${noise.length} values but the sample has ${length}`,
    );
  }
  return noise;
}

/** Rejects a timestep that is not an integer training timestep (the DDIM-type schedulers index ᾱ by it). */
export function checkIntegerTimestep(
  scheduler: SchedulerName,
  timestep: number,
  numTrainTimesteps: number,
): void {
  if (!Number.isInteger(timestep) || timestep < 0 || timestep >= numTrainTimesteps) {
    throw new RangeError(
      `Scheduler ${scheduler}: timestep must be an integer from 0 to ${numTrainTimesteps - 1} (got ${timestep})`,
    );
  }
}
