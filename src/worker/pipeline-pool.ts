import { loadPipeline, type ModelInfo, type Pipeline } from '../pipeline';
import { findTaesd, TaesdPreviewDecoder } from '../pipeline/preview';
import { fingerprintModel, type ModelFingerprint } from './model-fingerprint';
import { warmUp } from './warm-up';

/**
 * The loaded copies of one model: one inference thread per unit of
 * concurrency (a GPU runs one at a time best; a CPU box may run two).
 * A job borrows the least busy copy for its device work.
 */
export class PipelinePool {
  /** Jobs lent each copy whose device work is not over. */
  readonly #lent: Map<Pipeline, number>;

  private constructor(
    readonly model: string,
    readonly pipelines: readonly Pipeline[],
    /** The model directory's content hash, taken as it was loaded (for reproducibility records). */
    readonly fingerprint: ModelFingerprint,
    /** The model's TAESD preview decoder, when its directory has one (`taesd/`). */
    readonly taesd?: TaesdPreviewDecoder,
  ) {
    this.#lent = new Map(pipelines.map((p) => [p, 0]));
  }

  static async load(
    model: string,
    dir: string,
    options: { device: string; copies: number; intraOpThreads?: number; warmUp?: boolean },
  ): Promise<PipelinePool> {
    const pipelines: Pipeline[] = [];
    let taesd: TaesdPreviewDecoder | undefined;
    // Hashing streams the weights from disk while the sessions load.
    const hashing = fingerprintModel(dir);
    hashing.catch(() => undefined); // Awaited below; this only keeps an early failure from going unhandled.
    try {
      for (let i = 0; i < options.copies; i++) {
        pipelines.push(
          await loadPipeline(dir, { device: options.device, intraOpThreads: options.intraOpThreads }),
        );
      }
      // In turn, not at once: on one GPU the copies would only queue for it (webgpu-lock.ts).
      if (options.warmUp) for (const p of pipelines) await warmUp(p, options.device);
      const taesdFile = findTaesd(dir);
      if (taesdFile) taesd = await TaesdPreviewDecoder.open(taesdFile, 1);
      return new PipelinePool(model, pipelines, await hashing, taesd);
    } catch (err) {
      await Promise.allSettled([...pipelines.map((p) => p.close()), taesd?.close()]);
      throw err;
    }
  }

  get info(): ModelInfo {
    return this.pipelines[0].info;
  }

  /**
   * The copy with the fewest jobs lent out, for one job's device work. It
   * need not be free: jobs queue on a copy's thread, so the next one is there
   * when the device comes free. `giveBack` (once, whoever calls it) ends the
   * loan as soon as that work is over, while the job's images are finished.
   */
  borrow(): { pipeline: Pipeline; giveBack: () => void } {
    let pipeline = this.pipelines[0];
    for (const p of this.pipelines) if (this.#lent.get(p)! < this.#lent.get(pipeline)!) pipeline = p;
    this.#lent.set(pipeline, this.#lent.get(pipeline)! + 1);
    let given = false;
    const giveBack = (): void => {
      if (given) return;
      given = true;
      this.#lent.set(pipeline, this.#lent.get(pipeline)! - 1);
    };
    return { pipeline, giveBack };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pipelines.map((p) => p.close()), this.taesd?.close()]);
  }
}
