import * as fs from 'node:fs';
import * as path from 'node:path';
import { GiraffeError } from '../../errors';

/** The ONNX components of a diffusers/optimum export, by sub-directory. */
export const componentNames = ['text_encoder', 'unet', 'vae_decoder'] as const;
export type ComponentName = (typeof componentNames)[number];

/** What a model directory holds, read from its files without starting onnxruntime. */
export interface ModelDirectory {
  /** Absolute path of the model directory. */
  readonly dir: string;
  /** The directory's base name, used as the model id. */
  readonly id: string;
  readonly modelIndex: Readonly<Record<string, unknown>>;
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
  /** `scaling_factor` from `vae_decoder/config.json` (or `vae/config.json`). @defaultValue 0.18215 */
  readonly vaeScalingFactor: number;
  /** Default image side in pixels: `sample_size` of the VAE config. @defaultValue 512 */
  readonly defaultImageSize: number;
  readonly tokenizerDir: string;
  /** `.onnx` path per component. */
  readonly onnxFiles: Readonly<Record<ComponentName, string>>;
}

/** SD 1.x/2.x latent scaling; SDXL exports say 0.13025 in their config. */
const DEFAULT_VAE_SCALING_FACTOR = 0.18215;
const DEFAULT_IMAGE_SIZE = 512;

function fail(
  code: 'GIRAFFE_ERR_MODEL_FILE_MISSING' | 'GIRAFFE_ERR_MODEL_LOAD_FAILED',
  dir: string,
  file: string,
  problem: string,
): never {
  throw new GiraffeError(code, `${path.join(dir, file)}: ${problem}`, { model: dir, file });
}

function readJson(dir: string, file: string, required: boolean): Record<string, unknown> | undefined {
  const full = path.join(dir, file);
  if (!fs.existsSync(full)) {
    if (required) fail('GIRAFFE_ERR_MODEL_FILE_MISSING', dir, file, 'is missing');
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(full, 'utf8'));
  } catch (err) {
    fail('GIRAFFE_ERR_MODEL_LOAD_FAILED', dir, file, `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    fail('GIRAFFE_ERR_MODEL_LOAD_FAILED', dir, file, 'must hold a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function requireFile(dir: string, file: string): string {
  const full = path.join(dir, file);
  if (!fs.existsSync(full)) fail('GIRAFFE_ERR_MODEL_FILE_MISSING', dir, file, 'is missing');
  if (fs.statSync(full).size === 0) fail('GIRAFFE_ERR_MODEL_LOAD_FAILED', dir, file, 'is empty');
  return full;
}

/**
 * Reads a model directory in the diffusers ONNX layout and checks that every
 * file the pipeline needs is present. Throws one error naming the first file
 * that is missing or unreadable.
 */
export function readModelDirectory(modelDir: string): ModelDirectory {
  const dir = path.resolve(modelDir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new GiraffeError('GIRAFFE_ERR_MODEL_NOT_FOUND', `${dir}: no such model directory`, { model: dir });
  }
  const modelIndex = readJson(dir, 'model_index.json', true)!;
  const schedulerConfig = readJson(dir, path.join('scheduler', 'scheduler_config.json'), true)!;
  requireFile(dir, path.join('tokenizer', 'vocab.json'));
  requireFile(dir, path.join('tokenizer', 'merges.txt'));
  const onnxFiles = Object.fromEntries(
    componentNames.map((name) => [name, requireFile(dir, path.join(name, 'model.onnx'))]),
  ) as Record<ComponentName, string>;

  const vaeConfig =
    readJson(dir, path.join('vae_decoder', 'config.json'), false) ??
    readJson(dir, path.join('vae', 'config.json'), false);
  const scaling = vaeConfig?.scaling_factor;
  if (scaling !== undefined && (typeof scaling !== 'number' || !(scaling > 0))) {
    fail(
      'GIRAFFE_ERR_MODEL_LOAD_FAILED',
      dir,
      path.join('vae_decoder', 'config.json'),
      `scaling_factor must be a positive number, got ${JSON.stringify(scaling)}`,
    );
  }
  const sampleSize = vaeConfig?.sample_size;
  const defaultImageSize =
    typeof sampleSize === 'number' && Number.isInteger(sampleSize) && sampleSize >= 64 && sampleSize % 8 === 0
      ? sampleSize
      : DEFAULT_IMAGE_SIZE;

  return {
    dir,
    id: path.basename(dir),
    modelIndex,
    schedulerConfig,
    vaeScalingFactor: typeof scaling === 'number' ? scaling : DEFAULT_VAE_SCALING_FACTOR,
    defaultImageSize,
    tokenizerDir: path.join(dir, 'tokenizer'),
    onnxFiles,
  };
}
