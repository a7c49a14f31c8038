import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { GiraffeError } from '../errors';
import { modelIdSchema } from '../jobs';
import { inspectModelDirectory } from '../pipeline/model';

/** Written into a pulled model's directory: where it came from and what each file must be. */
export const SOURCE_FILE = 'giraffe-source.json';

/** Sub-directory of MODELS_DIR where pulls are assembled; it is never listed as a model. */
export const PULLS_DIR = '.pulls';

export interface SourceRecord {
  readonly repo: string;
  readonly revision: string;
  readonly commit: string;
  readonly endpoint: string;
  readonly subfolder?: string;
  readonly pulled_at: string;
  readonly files: readonly { path: string; size: number; sha256?: string; git_oid?: string }[];
}

/** A model directory under MODELS_DIR, or a pull of one that has not finished. */
export interface StoredModel {
  readonly name: string;
  readonly dir: string;
  readonly bytes: number;
  /** `ok`: every file the pipeline needs is there; `incomplete`: some are not; `partial`: a pull under way or interrupted. */
  readonly status: 'ok' | 'incomplete' | 'partial';
  /** What is wrong, for `incomplete`. */
  readonly problems: readonly string[];
  readonly source?: SourceRecord;
}

/** Bytes under a directory (files only; symbolic links are not followed). */
export function directorySize(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += directorySize(full);
    else if (entry.isFile()) total += fs.statSync(full).size;
  }
  return total;
}

export function readSource(dir: string): SourceRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, SOURCE_FILE), 'utf8')) as SourceRecord;
  } catch {
    return undefined;
  }
}

/** The models in `modelsDir` (one directory with a `model_index.json` each) and the pulls not yet finished. */
export function listModels(modelsDir: string): StoredModel[] {
  const root = path.resolve(modelsDir);
  if (!fs.existsSync(root)) return [];
  const models: StoredModel[] = [];
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dir = path.join(root, entry.name);
    if (!fs.existsSync(path.join(dir, 'model_index.json')) && !fs.existsSync(path.join(dir, SOURCE_FILE)))
      continue;
    const { problems } = inspectModelDirectory(dir);
    models.push({
      name: entry.name,
      dir,
      bytes: directorySize(dir),
      status: problems.length === 0 ? 'ok' : 'incomplete',
      problems: problems.map((p) => p.message),
      source: readSource(dir),
    });
  }
  const pulls = path.join(root, PULLS_DIR);
  if (fs.existsSync(pulls)) {
    for (const entry of fs.readdirSync(pulls, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const dir = path.join(pulls, entry.name);
      models.push({ name: entry.name, dir, bytes: directorySize(dir), status: 'partial', problems: [] });
    }
  }
  return models.sort((a, b) => a.name.localeCompare(b.name) || a.status.localeCompare(b.status));
}

/** Checks that `name` can name a model (what `POST /v1/generate` accepts as `model`). */
export function assertModelName(name: string): void {
  const parsed = modelIdSchema.safeParse(name);
  if (!parsed.success) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_PATH_REFUSED',
      `"${name}" cannot name a model: use letters, digits, ".", "_" and "-", starting with a letter or digit`,
      { model: name },
    );
  }
}

/**
 * The directory `arg` names inside `modelsDir`: a model name, or a path
 * (anything with a slash) that must lead to a directory directly inside
 * `modelsDir`, symbolic links resolved. Anything else is refused.
 */
export function modelDirectory(modelsDir: string, arg: string): { name: string; dir: string } {
  const root = fs.existsSync(modelsDir) ? fs.realpathSync(modelsDir) : path.resolve(modelsDir);
  const isPath = arg.includes('/') || arg.includes(path.sep);
  const resolved = isPath ? path.resolve(arg) : path.join(root, arg);
  const parent = fs.existsSync(path.dirname(resolved))
    ? fs.realpathSync(path.dirname(resolved))
    : path.dirname(resolved);
  const name = path.basename(resolved);
  if (parent !== root || !modelIdSchema.safeParse(name).success) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_PATH_REFUSED',
      `${arg}: not a model directory directly inside MODELS_DIR (${root}); refusing to touch it`,
      { model: arg },
    );
  }
  return { name, dir: path.join(root, name) };
}

/**
 * Deletes a model from `modelsDir`, and any unfinished pull of the same name.
 * Refuses anything that is not a model directory directly inside `modelsDir`.
 */
export async function removeModel(modelsDir: string, arg: string): Promise<{ name: string; bytes: number }> {
  const { name, dir } = modelDirectory(modelsDir, arg);
  const targets: string[] = [];
  const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (stat) {
    const isModel =
      stat.isDirectory() &&
      (fs.existsSync(path.join(dir, 'model_index.json')) || fs.existsSync(path.join(dir, SOURCE_FILE)));
    if (!isModel) {
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_PATH_REFUSED',
        `${dir}: not a model directory (no model_index.json); refusing to delete it`,
        { model: dir },
      );
    }
    targets.push(dir);
  }
  const pull = path.join(path.dirname(dir), PULLS_DIR, name);
  if (fs.existsSync(pull)) targets.push(pull);
  if (targets.length === 0) {
    throw new GiraffeError('GIRAFFE_ERR_MODEL_NOT_FOUND', `no model "${name}" in ${path.dirname(dir)}`, {
      model: name,
    });
  }
  let bytes = 0;
  for (const target of targets) {
    bytes += directorySize(target);
    await fsp.rm(target, { recursive: true, force: true });
  }
  return { name, bytes };
}
