import { loadPipeline, type ModelInfo, type Pipeline } from '../pipeline';
import { findTaesd, TaesdPreviewDecoder } from '../pipeline/preview';
import { fingerprintModel, type ModelFingerprint } from './model-fingerprint';

/**
 * The loaded copies of one model: one inference thread per unit of
 * concurrency (a GPU runs one at a time best; a CPU box may run two).
 * A job borrows a free copy for its device work.
 */
export class PipelinePool {
  #free: Pipeline[];
  #waiters: ((p: Pipeline) => void)[] = [];

  private constructor(
    readonly model: string,
    readonly pipelines: readonly Pipeline[],
    /** The model directory's content hash, taken as it was loaded (for reproducibility records). */
    readonly fingerprint: ModelFingerprint,
    /** The model's TAESD preview decoder, when its directory has one (`taesd/`). */
    readonly taesd?: TaesdPreviewDecoder,
  ) {
    this.#free = [...pipelines];
  }

  static async load(
    model: string,
    dir: string,
    options: { device: string; copies: number; intraOpThreads?: number },
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
   * A free copy, for one job's device work: `giveBack` (once, whoever calls
   * it) returns it as soon as that work is over, so the next job may use the
   * copy while this one's images are still being encoded.
   */
  async borrow(): Promise<{ pipeline: Pipeline; giveBack: () => void }> {
    const pipeline =
      this.#free.pop() ?? (await new Promise<Pipeline>((resolve) => this.#waiters.push(resolve)));
    let given = false;
    const giveBack = (): void => {
      if (given) return;
      given = true;
      const next = this.#waiters.shift();
      if (next) next(pipeline);
      else this.#free.push(pipeline);
    };
    return { pipeline, giveBack };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pipelines.map((p) => p.close()), this.taesd?.close()]);
  }
}
