import { performance } from 'node:perf_hooks';
import { isGiraffeError } from '../../errors';
import type { NumpyRandomState } from '../random';
import type { Scheduler } from '../schedulers';
import type { StepProgress } from '../stages/denoise';
import type { DenoiseCheckpoint } from './denoise-checkpoint';

/** When to checkpoint a run, and where checkpoints go. */
export interface CheckpointOptions {
  /** A checkpoint is taken after the first step that ends this long after the run began or the last one. */
  readonly intervalMs: number;
  /**
   * Receives each checkpoint, on the thread that runs the pipeline, between
   * two steps (the arrays are copies it may keep). Also called once when the
   * run is canceled after a step, so a run stopped for a shutdown resumes
   * where it stopped.
   */
  readonly save: (checkpoint: DenoiseCheckpoint) => void;
}

/**
 * One run's checkpointing: applies a matching `resumeFrom` to the fresh
 * scheduler, random stream and latents before the loop, and takes
 * checkpoints between steps. Taking one copies the latents and the
 * scheduler's history, nothing more: the step's U-Net call dominates.
 */
export class CheckpointTaker {
  /** Steps the loop skips: those the checkpoint already holds. */
  readonly startStep: number;
  /** What the loop starts from: the checkpoint's latents, or the fresh ones. */
  readonly startLatents: Float32Array;
  #lastAt = performance.now();
  #last: { step: number; steps: number; latents: Float32Array } | undefined;
  #lastSaved = 0;

  constructor(
    private readonly key: string,
    private readonly scheduler: Scheduler,
    private readonly rng: NumpyRandomState,
    latents: Float32Array,
    private readonly options: { resumeFrom?: DenoiseCheckpoint; checkpoint?: CheckpointOptions },
  ) {
    const from = options.resumeFrom;
    const usable =
      from !== undefined &&
      from.key === key &&
      from.step > 0 &&
      from.step < scheduler.timesteps.length &&
      from.latents.length === latents.length;
    if (usable) {
      scheduler.restoreState(from.scheduler);
      rng.restoreState(from.rng);
      this.startStep = from.step;
      this.startLatents = from.latents.slice();
      this.#lastSaved = from.step;
    } else {
      this.startStep = 0;
      this.startLatents = latents;
    }
  }

  /** The loop's step callback, taking a checkpoint whenever one is due. */
  wrap(onStep: ((progress: StepProgress) => void) | undefined): (progress: StepProgress) => void {
    return (p) => {
      onStep?.(p);
      if (this.options.checkpoint === undefined) return;
      // Checkpoints count U-Net calls (what the loop resumes after), not the requested steps
      // progress shows: PNDM makes one call more.
      this.#last = { step: p.unetCall, steps: p.unetCalls, latents: p.latents };
      // The last step needs none: the run is about to end.
      if (
        p.unetCall < p.unetCalls &&
        performance.now() - this.#lastAt >= this.options.checkpoint.intervalMs
      ) {
        this.#save();
      }
    };
  }

  /** The run stopped: canceled (or shut down) between steps, keep what it reached; failed, keep nothing new. */
  onStopped(err: unknown): void {
    const last = this.#last;
    if (
      isGiraffeError(err, 'GIRAFFE_ERR_GENERATION_CANCELED') &&
      last !== undefined &&
      last.step > this.#lastSaved
    ) {
      this.#save();
    }
  }

  #save(): void {
    const last = this.#last;
    if (last === undefined) return;
    this.options.checkpoint?.save({
      key: this.key,
      step: last.step,
      steps: last.steps,
      latents: last.latents.slice(),
      scheduler: this.scheduler.saveState(),
      rng: this.rng.saveState(),
    });
    this.#lastSaved = last.step;
    this.#lastAt = performance.now();
  }
}
