import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  modelDefaults,
  readModelDirectory,
  schedulerNames,
  type ModelDefaults,
  type ModelInfo,
} from '../pipeline/contract';
import type { WorkerRegistry } from '../queue';
import { generationModes, readModelModes, type GenerationMode, type ModelModes } from './model-modes';

/** What the API knows about a model before any job runs on it. */
export interface CatalogModel {
  readonly id: string;
  /** Workers that announce this model right now. */
  readonly workers: number;
  /** Whether a live worker serves it now (`workers > 0`): a job for it is accepted. */
  readonly served: boolean;
  /** Whether a worker has it loaded in memory now (a worker that loads models on first use may not). */
  readonly loaded: boolean;
  readonly defaults: ModelDefaults;
  readonly schedulers: readonly string[];
  /** The model's `scheduler_config.json` (what its schedulers' limits derive from), when known. */
  readonly schedulerConfig?: Readonly<Record<string, unknown>>;
  readonly precision?: string;
  readonly device?: readonly string[];
  /** What it can do (text-to-image, image-to-image, inpainting), when its directory or a worker says. */
  readonly modes?: ModelModes;
}

const fallbackDefaults: ModelDefaults = {
  width: 512,
  height: 512,
  scheduler: 'euler',
  steps: 20,
  guidance_scale: 7.5,
};

/**
 * The models this deployment knows: those the workers announce (with the
 * metadata they loaded), plus model directories on disk and built-in models
 * that no worker announces (`served: false`: a job for one is refused with
 * 503 until a worker serves it).
 */
export class ModelCatalog {
  #diskCache = new Map<string, CatalogModel | null>();
  #modesCache = new Map<string, Promise<ModelModes | undefined>>();

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly modelsDir: string,
    private readonly extraDirs: Readonly<Record<string, string>> = {},
  ) {}

  /** Workers announce themselves every few seconds; a listing a second old is as good as a fresh one. */
  static readonly CACHE_MS = 1000;
  #cached: { at: number; models: Promise<CatalogModel[]> } | undefined;

  /** The served models, from a listing at most {@link ModelCatalog.CACHE_MS} old. */
  list(): Promise<CatalogModel[]> {
    const now = Date.now();
    if (!this.#cached || now - this.#cached.at > ModelCatalog.CACHE_MS) {
      const models = this.#load();
      this.#cached = { at: now, models };
      // A failed read (Redis away) must not be served from the cache.
      models.catch(() => {
        if (this.#cached?.models === models) this.#cached = undefined;
      });
    }
    return this.#cached.models;
  }

  async #load(): Promise<CatalogModel[]> {
    const workers = await this.registry.list();
    const byId = new Map<string, CatalogModel>();
    for (const w of workers) {
      for (const id of w.models) {
        const info = w.model_info?.[id] as ModelInfo | undefined;
        const prev = byId.get(id);
        byId.set(id, {
          id,
          workers: (prev?.workers ?? 0) + 1,
          served: true,
          // Workers that load every model at start announce no `loaded` list.
          loaded: (prev?.loaded ?? false) || (w.loaded?.includes(id) ?? true),
          defaults: info?.defaults ?? prev?.defaults ?? this.#fromDisk(id)?.defaults ?? fallbackDefaults,
          schedulers: info?.schedulers ?? prev?.schedulers ?? [],
          schedulerConfig:
            info?.schedulerConfig ?? prev?.schedulerConfig ?? this.#fromDisk(id)?.schedulerConfig,
          precision: info?.precision ?? prev?.precision,
          device: [...new Set([...(prev?.device ?? []), w.device])],
          modes: prev?.modes ?? modesFromWorker(info),
        });
      }
    }
    for (const id of this.#diskModelIds()) {
      if (!byId.has(id)) {
        const m = this.#fromDisk(id);
        if (m) byId.set(id, m);
      }
    }
    const models = await Promise.all(
      [...byId.values()].map(async (m) => ({ ...m, modes: (await this.#modes(m.id)) ?? m.modes })),
    );
    return models.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Modes read from the model's directory (once per model), when the API can see it. */
  #modes(id: string): Promise<ModelModes | undefined> {
    let modes = this.#modesCache.get(id);
    if (!modes) {
      const dir = this.extraDirs[id] ?? path.join(this.modelsDir, id);
      modes = fs.existsSync(path.join(dir, 'unet')) ? readModelModes(dir) : Promise.resolve(undefined);
      this.#modesCache.set(id, modes);
    }
    return modes;
  }

  async get(id: string): Promise<CatalogModel | undefined> {
    return (await this.list()).find((m) => m.id === id);
  }

  #diskModelIds(): string[] {
    const ids = new Set(Object.keys(this.extraDirs));
    try {
      for (const entry of fs.readdirSync(this.modelsDir, { withFileTypes: true })) {
        if (entry.isDirectory() && fs.existsSync(path.join(this.modelsDir, entry.name, 'model_index.json')))
          ids.add(entry.name);
      }
    } catch {
      // No models directory: only announced models and the built-in ones.
    }
    return [...ids];
  }

  #fromDisk(id: string): CatalogModel | undefined {
    if (!this.#diskCache.has(id)) {
      try {
        const dir = readModelDirectory(this.extraDirs[id] ?? path.join(this.modelsDir, id));
        this.#diskCache.set(id, {
          id,
          workers: 0,
          served: false,
          loaded: false,
          defaults: modelDefaults(dir),
          schedulers: schedulerNames,
          schedulerConfig: dir.schedulerConfig,
        });
      } catch {
        this.#diskCache.set(id, null);
      }
    }
    return this.#diskCache.get(id) ?? undefined;
  }
}

/** Modes from what a worker reported about a model it loaded (the pipeline's `ModelInfo.modes`). */
function modesFromWorker(info: ModelInfo | undefined): ModelModes | undefined {
  const reported = (info as { readonly modes?: Partial<Record<GenerationMode, ModeSupport>> } | undefined)
    ?.modes;
  if (!reported) return undefined;
  const unsupported: Partial<Record<GenerationMode, string>> = {};
  for (const mode of generationModes) {
    const support = reported[mode];
    if (support && !support.supported) unsupported[mode] = support.reason ?? 'not supported by this model';
  }
  return { modes: generationModes.filter((m) => !(m in unsupported)), unsupported };
}

interface ModeSupport {
  readonly supported: boolean;
  readonly reason?: string;
}
