import type { Logger } from 'pino';
import { GiraffeError } from '../errors';
import type { ModelInfo } from '../pipeline';
import { estimateModelFootprint } from './model-footprint';
import { PipelinePool } from './pipeline-pool';

/** A model a worker serves: its id (what jobs name) and its directory. */
export interface ModelToServe {
  readonly id: string;
  readonly dir: string;
}

export interface ModelHostOptions {
  /** `cpu` or `cuda:N`. */
  readonly device: string;
  /** Inference threads (copies) per loaded model. */
  readonly copies: number;
  readonly intraOpThreads?: number;
  /**
   * Estimated bytes the loaded models may take together (see
   * {@link estimateModelFootprint}, times `copies`). @defaultValue Infinity
   */
  readonly budgetBytes?: number;
  readonly logger: Logger;
  /** Called after a model loads or unloads (the worker announces the change at once). */
  readonly onChange?: () => void;
}

interface Slot {
  /** Settles once the model is loaded (or failed to load). */
  readonly pool: Promise<PipelinePool>;
  /** Estimated footprint, known once its load began. */
  bytes: number;
  ready: boolean;
  /** Jobs using it now: a model in use is never unloaded. */
  users: number;
  /** Logical time of its last use, for least-recently-used eviction. */
  lastUsed: number;
}

/**
 * The models of one worker, loaded when a job first needs them and kept
 * while they fit a memory budget: to load another, the least recently used
 * idle model is unloaded first, and a model in use is waited for (its job's
 * device work ends soon) rather than loaded beside, which on a GPU would run
 * out of memory. Loads and unloads run one at a time, so the budget
 * arithmetic never races. A model larger than the whole budget still loads,
 * alone, with a warning: refusing it would leave its jobs nowhere to go.
 */
export class ModelHost {
  readonly #options: ModelHostOptions;
  readonly #budget: number;
  readonly #dirs = new Map<string, string>();
  readonly #slots = new Map<string, Slot>();
  /** What each model looked like when last loaded; kept after an unload for the registry. */
  readonly #info = new Map<string, ModelInfo>();
  #clock = 0;
  /** Loads waiting for a model in use to be released. */
  #awaitingRelease: (() => void)[] = [];
  #serial: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(models: readonly ModelToServe[], options: ModelHostOptions) {
    this.#options = options;
    this.#budget = options.budgetBytes ?? Infinity;
    for (const model of models) this.add(model);
  }

  /** Serves one more model; false when it was served already. */
  add(model: ModelToServe): boolean {
    if (this.#dirs.has(model.id)) return false;
    this.#dirs.set(model.id, model.dir);
    return true;
  }

  /** Ids of every model served, loaded or not. */
  get models(): string[] {
    return [...this.#dirs.keys()];
  }

  /** Ids of the models loaded now. */
  get loaded(): string[] {
    return [...this.#slots].filter(([, slot]) => slot.ready).map(([id]) => id);
  }

  /** Estimated bytes of the models loaded now. */
  get loadedBytes(): number {
    let bytes = 0;
    for (const slot of this.#slots.values()) if (slot.ready) bytes += slot.bytes;
    return bytes;
  }

  /** Metadata of every model loaded at least once, by id. */
  get info(): Record<string, ModelInfo> {
    return Object.fromEntries(this.#info);
  }

  /** Loads the model now (a worker that serves a fixed list loads it at start). */
  async load(id: string): Promise<void> {
    (await this.acquire(id)).release();
  }

  /** Runs `fn` with the model loaded; it stays loaded (and cannot be unloaded) until `fn` settles. */
  async use<T>(id: string, fn: (pool: PipelinePool) => Promise<T>): Promise<T> {
    const { pool, release } = await this.acquire(id);
    try {
      return await fn(pool);
    } finally {
      release();
    }
  }

  /** The model, loaded; it cannot be unloaded until `release` is called (once). */
  async acquire(id: string): Promise<{ pool: PipelinePool; release: () => void }> {
    const dir = this.#dirs.get(id);
    if (dir === undefined || this.#closed) {
      throw new GiraffeError('GIRAFFE_ERR_MODEL_UNKNOWN', `this worker serves no model "${id}"`, {
        model: id,
      });
    }
    const slot = this.#slots.get(id) ?? this.#startLoad(id, dir);
    slot.users += 1;
    slot.lastUsed = ++this.#clock;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      slot.users -= 1;
      slot.lastUsed = ++this.#clock;
      if (slot.users === 0) for (const wake of this.#awaitingRelease.splice(0)) wake();
    };
    try {
      return { pool: await slot.pool, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Unloads every model; later uses fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#awaitingRelease.splice(0)) wake();
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    await Promise.allSettled(slots.map((slot) => slot.pool.then((pool) => pool.close())));
  }

  #startLoad(id: string, dir: string): Slot {
    // Runs after this method returns (behind any load under way), when `slot` exists.
    const pool = this.#exclusive(async () => {
      slot.bytes = this.#estimate(dir);
      await this.#makeRoom(id, slot.bytes);
      if (this.#closed) throw new GiraffeError('GIRAFFE_ERR_PIPELINE_CLOSED', 'the worker is stopping');
      const started = performance.now();
      const loaded = await PipelinePool.load(id, dir, {
        device: this.#options.device,
        copies: this.#options.copies,
        intraOpThreads: this.#options.intraOpThreads,
        // On a GPU, one warm-up image compiles the shaders before the first job (warm-up.ts).
        warmUp: this.#options.device !== 'cpu',
      });
      if (this.#closed) {
        await loaded.close();
        throw new GiraffeError('GIRAFFE_ERR_PIPELINE_CLOSED', 'the worker is stopping');
      }
      slot.ready = true;
      this.#info.set(id, loaded.info);
      this.#options.onChange?.();
      this.#options.logger.info(
        {
          model: id,
          dir,
          device: this.#options.device,
          load_ms: Math.round(performance.now() - started),
          estimated_mb: mb(slot.bytes),
          loaded_mb: mb(this.loadedBytes),
        },
        this.#options.device === 'cpu' ? 'model loaded' : 'model loaded and warmed up',
      );
      return loaded;
    });
    const slot: Slot = { pool, bytes: 0, ready: false, users: 0, lastUsed: 0 };
    // A failed load leaves no slot behind: the next job for the model tries again.
    slot.pool.catch(() => {
      if (this.#slots.get(id) === slot) this.#slots.delete(id);
    });
    this.#slots.set(id, slot);
    return slot;
  }

  /**
   * Unloads least recently used idle models until `bytes` more fit the
   * budget, waiting for models in use to become idle; gives up (and loads
   * beyond the budget) only when nothing else is loaded.
   */
  async #makeRoom(id: string, bytes: number): Promise<void> {
    while (this.loadedBytes + bytes > this.#budget && !this.#closed) {
      const others = [...this.#slots].filter(([other, slot]) => other !== id && slot.ready);
      if (others.length === 0) break;
      const idle = others
        .filter(([, slot]) => slot.users === 0)
        .sort(([, a], [, b]) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        this.#options.logger.info(
          {
            model: id,
            estimated_mb: mb(bytes),
            loaded_mb: mb(this.loadedBytes),
            budget_mb: mb(this.#budget),
          },
          'waiting for a model in use to become idle: loading beside it would exceed the memory budget',
        );
        await new Promise<void>((resolve) => this.#awaitingRelease.push(resolve));
        continue;
      }
      const [victim, slot] = idle;
      this.#slots.delete(victim);
      await (await slot.pool).close();
      this.#options.logger.info(
        { model: victim, estimated_mb: mb(slot.bytes), for_model: id },
        'model unloaded (least recently used) to stay within the memory budget',
      );
      this.#options.onChange?.();
    }
    if (this.loadedBytes + bytes > this.#budget) {
      this.#options.logger.warn(
        {
          model: id,
          estimated_mb: mb(bytes),
          loaded_mb: mb(this.loadedBytes),
          budget_mb: mb(this.#budget),
        },
        'loading a model beyond the memory budget: it is larger than the budget alone',
      );
    }
  }

  #estimate(dir: string): number {
    try {
      return estimateModelFootprint(dir) * this.#options.copies;
    } catch {
      // A missing directory: the load that follows fails with the clear message.
      return 0;
    }
  }

  /** Runs loads (and the unloads they need) one at a time. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => undefined);
    return run;
  }
}

const mb = (bytes: number): number => Math.round((bytes / 1_048_576) * 10) / 10;
