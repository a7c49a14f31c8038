import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { modelIdSchema } from '../jobs';
import type { QueueDriver } from '../queue';
import { WorkerService, type ModelToServe } from '../worker';
import { ensureBuiltInModels } from './built-in-models';
import { webhooksFromConfig } from './queue-from-config';
import { resolveModel } from './resolve-model';

/**
 * The model directories in MODELS_DIR (each sub-directory with a
 * `model_index.json`, named as jobs may name a model), as the API's catalogue
 * lists them. Read again at every worker heartbeat: cheap, one `readdir`.
 */
export function modelsInDirectory(modelsDir: string): ModelToServe[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(modelsDir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter(
      (e) =>
        e.isDirectory() &&
        modelIdSchema.safeParse(e.name).success &&
        fs.existsSync(path.join(modelsDir, e.name, 'model_index.json')),
    )
    .map((e) => ({ id: e.name, dir: path.resolve(modelsDir, e.name) }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * What embedded mode serves: the built-in models, every model in MODELS_DIR
 * (a built-in name shadows a directory of that name) and DEFAULT_MODEL, which
 * may be a path outside MODELS_DIR.
 */
export async function embeddedModels(
  config: Config,
): Promise<{ models: ModelToServe[]; builtIn: Record<string, string> }> {
  const builtIn = await ensureBuiltInModels(config.DATA_DIR);
  const byId = new Map<string, ModelToServe>();
  for (const model of modelsInDirectory(config.MODELS_DIR)) byId.set(model.id, model);
  for (const [id, dir] of Object.entries(builtIn)) byId.set(id, { id, dir });
  const preferred = await resolveModel(config.DEFAULT_MODEL, config);
  if (!byId.has(preferred.id)) byId.set(preferred.id, preferred);
  return { models: [...byId.values()], builtIn };
}

/**
 * MODEL_MEMORY_BUDGET_MB in bytes; 0 means half of this machine's memory
 * (onnxruntime on CPU holds the weights in RAM; on a GPU set it to the
 * card's memory, which Node cannot read).
 */
export function memoryBudgetBytes(config: Config): number {
  const mb = config.MODEL_MEMORY_BUDGET_MB;
  return mb > 0 ? Math.round(mb * 1_048_576) : Math.round(os.totalmem() / 2);
}

/**
 * Embedded mode's worker: every model of {@link embeddedModels} (and any
 * directory added to MODELS_DIR later), each loaded on its first job within
 * MODEL_MEMORY_BUDGET_MB, one job at a time with the models taking turns.
 * Resolves with the worker and the built-in models' directories (the API's
 * catalogue reads their defaults).
 */
export async function startEmbeddedWorker(
  config: Config,
  driver: QueueDriver,
  logger: Logger,
  options: { readonly device?: string; readonly workerId?: string } = {},
): Promise<{ worker: WorkerService; builtIn: Record<string, string> }> {
  const served = await embeddedModels(config);
  const worker = await WorkerService.start({
    driver,
    models: served.models,
    discoverModels: () => modelsInDirectory(config.MODELS_DIR),
    memoryBudgetBytes: memoryBudgetBytes(config),
    device: options.device ?? 'cpu',
    concurrency: 1,
    lockDurationMs: config.JOB_LOCK_MS,
    checkpointIntervalMs: config.CHECKPOINT_INTERVAL_MS,
    // The only worker: a job it takes ahead cannot be one another worker would have run sooner.
    prefetch: Math.max(1, config.WORKER_PREFETCH),
    previewMinIntervalMs: config.PREVIEW_MIN_INTERVAL_MS,
    webhooks: webhooksFromConfig(config),
    intraOpThreads: config.ORT_INTRA_OP_THREADS,
    logger,
    workerId: options.workerId,
  });
  return { worker, builtIn: served.builtIn };
}
