import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config';
import { GiraffeError } from '../errors';
import { builtInModels, isBuiltInModel } from './built-in-models';

/** The built-in demo model's name. */
export const DEMO_MODEL = 'demo';

/** A model to load: its id (what jobs name) and its directory. */
export interface ResolvedModel {
  readonly id: string;
  readonly dir: string;
}

/**
 * Turns a model argument into an id and a directory: a path to an export
 * (id = its directory name), a name under MODELS_DIR, or a built-in model
 * such as `demo` (generated under DATA_DIR on first use).
 */
export async function resolveModel(model: string | undefined, config: Config): Promise<ResolvedModel> {
  const name = model ?? config.DEFAULT_MODEL;
  if (isBuiltInModel(name)) return { id: name, dir: await builtInModels[name](config.DATA_DIR) };
  const candidates = [path.resolve(config.MODELS_DIR, name), path.resolve(name)];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'model_index.json')));
  if (found) return { id: path.basename(found), dir: found };
  throw new GiraffeError(
    'GIRAFFE_ERR_MODEL_NOT_FOUND',
    `model "${name}" not found: looked for model_index.json in ${candidates.join(' and ')}`,
    {
      model: name,
    },
  );
}
