import { createHash } from 'node:crypto';
import type { RandomStateSnapshot } from '../random';
import type { SchedulerState } from '../schedulers';

/**
 * The denoising loop's whole state between two steps: with it, a run of the
 * same request on the same model continues where another stopped and ends
 * with the same bytes. Everything before the loop (text embeddings, the
 * encoded input image, the mask) is recomputed from the request instead:
 * it is deterministic and cheap next to the steps.
 */
export interface DenoiseCheckpoint {
  /** {@link checkpointKey} of the request and model the checkpoint belongs to. */
  readonly key: string;
  /** Steps done: the loop continues with the step after this one (1-based count). */
  readonly step: number;
  /** U-Net evaluations in the whole run, as progress reports them. */
  readonly steps: number;
  /** The latents after `step` steps. */
  readonly latents: Float32Array;
  readonly scheduler: SchedulerState;
  /** The job's random stream after `step` steps (stochastic schedulers draw every step). */
  readonly rng: RandomStateSnapshot;
}

/** Keys sorted at every level, so the same request always hashes the same. */
function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return undefined;
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = canonical((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/**
 * What a checkpoint must match to be resumed: the model and every request
 * field (seed included). Input image bytes are left out: the request names
 * them by their sha256.
 */
export function checkpointKey(model: string, request: object): string {
  return createHash('sha256')
    .update(JSON.stringify({ model, request: canonical(request) }))
    .digest('hex');
}
