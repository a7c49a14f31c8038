import { requestError } from './config';
import { arange, f32, linspace, roundHalfEven } from './numeric';
import type { SchedulerName, TimestepSpacing } from './types';

/** The inputs every spacing rule takes. */
export interface SpacingInput {
  readonly spacing: TimestepSpacing;
  readonly numTrainTimesteps: number;
  readonly numInferenceSteps: number;
  readonly stepsOffset: number;
}

/** Rejects a step count that is not a positive integer within the training schedule. */
export function checkStepCount(scheduler: SchedulerName, steps: number, max: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > max) {
    throw requestError(
      `Scheduler ${scheduler}: the step count must be an integer from 1 to ${max} (got ${steps})`,
      { field: 'steps', scheduler, steps },
    );
  }
}

/**
 * `round(arange(from, 0, −T/N)) − 1`, at most N values. For some N (61, 103,
 * 121, … with T = 1000) the float arange overshoots by one point near 0, and
 * diffusers then runs N + 1 steps, the last at timestep −1 (which indexes ᾱ
 * from the end). giraffe drops that point: a deliberate deviation.
 */
function trailing(from: number, T: number, N: number): Float64Array {
  return arange(from, 0, -T / N)
    .subarray(0, N)
    .map((t) => roundHalfEven(t) - 1);
}

/**
 * Descending inference timesteps by diffusers' three rules (values in
 * float64). `fractionalLinspace` keeps `linspace` points unrounded in float32,
 * as the Euler schedulers do; the integer schedulers round them (half to even,
 * as numpy does).
 *
 * - leading: `arange(N)·(T // N)` reversed, plus `steps_offset`.
 * - trailing: `round(arange(T, 0, −T/N)) − 1`.
 * - linspace: `linspace(0, T − 1, N)` reversed.
 */
export function spacedTimesteps(input: SpacingInput, fractionalLinspace: boolean): Float64Array {
  const { spacing, numTrainTimesteps: T, numInferenceSteps: N, stepsOffset } = input;
  if (spacing === 'leading') {
    const ratio = Math.floor(T / N);
    return Float64Array.from({ length: N }, (_, i) => (N - 1 - i) * ratio + stepsOffset);
  }
  if (spacing === 'trailing') return trailing(T, T, N);
  const points = linspace(0, T - 1, N).reverse();
  return points.map(fractionalLinspace ? f32 : roundHalfEven);
}

/**
 * DPMSolverMultistepScheduler's variant: N + 1 points with the last dropped,
 * counted up to `lastTimestep` (below T when `lambda_min_clipped` cuts the
 * low-SNR end); trailing then yields fewer than N timesteps, as in diffusers.
 */
export function dpmTimesteps(input: SpacingInput, lastTimestep: number): Float64Array {
  const { spacing, numTrainTimesteps: T, numInferenceSteps: N, stepsOffset } = input;
  if (spacing === 'leading') {
    const ratio = Math.floor(lastTimestep / (N + 1));
    return Float64Array.from({ length: N }, (_, i) => (N - i) * ratio + stepsOffset);
  }
  if (spacing === 'trailing') return trailing(lastTimestep, T, N);
  return linspace(0, lastTimestep - 1, N + 1)
    .map(roundHalfEven)
    .reverse()
    .subarray(0, N);
}
