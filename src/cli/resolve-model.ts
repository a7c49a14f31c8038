import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config';
import { GiraffeError } from '../errors';
import { ensureDemoModel } from '../pipeline';

/** The built-in demo model's name. */
export const DEMO_MODEL = 'demo';

/**
 * Turns a model argument into a directory: a path to an export, a name under
 * MODELS_DIR, or `demo` (generated under DATA_DIR on first use).
 */
export async function resolveModelDir(model: string | undefined, config: Config): Promise<string> {
  const name = model ?? config.DEFAULT_MODEL;
  if (name === DEMO_MODEL) return ensureDemoModel(config.DATA_DIR);
  const candidates = [path.resolve(name), path.resolve(config.MODELS_DIR, name)];
  const found = candidates.find(
    (dir) => fs.existsSync(path.join(dir, 'model_index.json')) || fs.existsSync(path.join(dir, 'unet')),
  );
  if (found) return found;
  throw new GiraffeError(
    'GIRAFFE_ERR_MODEL_NOT_FOUND',
    `model "${name}" not found: looked in ${candidates.join(' and ')}`,
    { model: name },
  );
}
