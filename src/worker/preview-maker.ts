import {
  linearPreview,
  sd1LatentRgb,
  type LatentRgbFactors,
  type PreviewPixels,
  type TaesdPreviewDecoder,
} from '../pipeline/preview';
import type { StepProgress } from '../pipeline';
import type { JobContext } from '../queue';

export interface PreviewMakerOptions {
  /** Previews are made at most this often (the last step always gets one). @defaultValue 0: every step */
  readonly minIntervalMs?: number;
  /** @defaultValue SD 1.x/2.x factors */
  readonly factors?: LatentRgbFactors;
  /** Decode with TAESD (the model has one) instead of the linear projection. */
  readonly taesd?: TaesdPreviewDecoder;
}

/**
 * Turns a job's step latents (x₀) into previews on the worker's main thread,
 * beside the denoising thread, never in its way: while one preview is being
 * published only the newest step waits for its turn; the steps it replaces
 * are skipped, never queued.
 */
export class PreviewMaker {
  readonly #context: Pick<JobContext, 'preview'>;
  readonly #minIntervalMs: number;
  readonly #factors: LatentRgbFactors;
  readonly #taesd: TaesdPreviewDecoder | undefined;
  #busy: Promise<void> | undefined;
  /** The newest step offered while a preview was being published: it goes next (older ones are dropped). */
  #next: StepProgress | undefined;
  #lastAt = -Infinity;
  /** Previews published and skipped, for the job's log line. */
  published = 0;
  skipped = 0;

  constructor(context: Pick<JobContext, 'preview'>, options: PreviewMakerOptions = {}) {
    this.#context = context;
    this.#minIntervalMs = options.minIntervalMs ?? 0;
    this.#factors = options.factors ?? sd1LatentRgb;
    this.#taesd = options.taesd;
  }

  /** Offers a step; makes and publishes its preview unless one is under way or it is too soon. */
  offer(step: StepProgress): void {
    const now = performance.now();
    const last = step.step >= step.steps;
    if (this.#busy) {
      if (this.#next) this.skipped += 1;
      this.#next = step;
      return;
    }
    if (!last && now - this.#lastAt < this.#minIntervalMs) {
      this.skipped += 1;
      return;
    }
    const latents = { shape: step.shape, data: step.predictedOriginal };
    let pixels: PreviewPixels | Promise<PreviewPixels>;
    try {
      pixels = this.#taesd ? this.#taesd.decode(latents) : linearPreview(latents, this.#factors);
    } catch {
      // A latent layout the factors do not fit (not 4 channels): this model gets no previews.
      this.skipped += 1;
      return;
    }
    this.#lastAt = now;
    this.#busy = Promise.resolve(pixels)
      .then((made) => this.#context.preview({ step: step.step, steps: step.steps, ...made }))
      .then(
        () => void (this.published += 1),
        () => void (this.skipped += 1),
      )
      .finally(() => {
        this.#busy = undefined;
        const pending = this.#next;
        this.#next = undefined;
        if (pending) this.offer(pending);
      });
  }

  /** Resolves once every preview offered so far is published (the last step's included). */
  async flush(): Promise<void> {
    while (this.#busy) await this.#busy;
  }
}
