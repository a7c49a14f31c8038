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
  /**
   * Default image side in pixels: the U-Net's `sample_size` × 8 (the VAE's
   * scale factor), else the VAE config's `sample_size`. @defaultValue 512
   */
  readonly defaultImageSize: number;
  readonly tokenizerDir: string;
  /** `.onnx` path per component. */
  readonly onnxFiles: Readonly<Record<ComponentName, string>>;
  /** SDXL: `tokenizer_2/` and `text_encoder_2/model.onnx`, when the export has them. */
  readonly second?: { readonly tokenizerDir: string; readonly textEncoder: string };
  /** `unet/config.json`, or `{}` when the export has none. */
  readonly unetConfig: Readonly<Record<string, unknown>>;
  /** `force_zeros_for_empty_prompt` of `model_index.json` (SDXL): no negative prompt → zero unconditional states. */
  readonly forceZerosForEmptyPrompt: boolean;
  /** `vae_encoder/model.onnx` when the export has one (image-to-image and inpainting need it). */
  readonly vaeEncoderFile?: string;
}

/** SD 1.x/2.x latent scaling; SDXL exports say 0.13025 in their config. */
const DEFAULT_VAE_SCALING_FACTOR = 0.18215;
const DEFAULT_IMAGE_SIZE = 512;

type ProblemCode = 'GIRAFFE_ERR_MODEL_FILE_MISSING' | 'GIRAFFE_ERR_MODEL_LOAD_FAILED';

/** Collects every problem of one directory, so a check can report them all at once. */
class Problems {
  readonly list: GiraffeError[] = [];
  constructor(readonly dir: string) {}

  add(code: ProblemCode, file: string, problem: string): undefined {
    this.list.push(
      new GiraffeError(code, `${path.join(this.dir, file)}: ${problem}`, { model: this.dir, file }),
    );
    return undefined;
  }

  readJson(file: string, required: boolean): Record<string, unknown> | undefined {
    const full = path.join(this.dir, file);
    if (!fs.existsSync(full))
      return required ? this.add('GIRAFFE_ERR_MODEL_FILE_MISSING', file, 'is missing') : undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(full, 'utf8'));
    } catch (err) {
      return this.add('GIRAFFE_ERR_MODEL_LOAD_FAILED', file, `is not valid JSON (${(err as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return this.add('GIRAFFE_ERR_MODEL_LOAD_FAILED', file, 'must hold a JSON object');
    }
    return parsed as Record<string, unknown>;
  }

  requireFile(file: string): string | undefined {
    const full = path.join(this.dir, file);
    if (!fs.existsSync(full)) return this.add('GIRAFFE_ERR_MODEL_FILE_MISSING', file, 'is missing');
    if (fs.statSync(full).size === 0) return this.add('GIRAFFE_ERR_MODEL_LOAD_FAILED', file, 'is empty');
    return full;
  }
}

const imageSide = (n: unknown): number | undefined =>
  typeof n === 'number' && Number.isInteger(n) && n >= 64 && n <= 4096 && n % 8 === 0 ? n : undefined;

/**
 * The side a model was trained at, as diffusers derives it: the U-Net's
 * `sample_size` (in latents) × the VAE's scale factor 8. The VAE's own
 * `sample_size` is the fallback only: distilled models copy it from their
 * parent (SD-Turbo's VAE says 768, SDXL-Turbo's 1024; both make 512² images).
 */
function defaultSize(
  unetConfig: Record<string, unknown> | undefined,
  vaeConfig: Record<string, unknown> | undefined,
): number {
  const latentSide = unetConfig?.sample_size;
  const fromUnet = typeof latentSide === 'number' ? imageSide(latentSide * 8) : undefined;
  return fromUnet ?? imageSide(vaeConfig?.sample_size) ?? DEFAULT_IMAGE_SIZE;
}

/** A model directory read as far as it goes, with every problem found on the way. */
export interface ModelDirectoryInspection {
  /** Undefined when any problem was found. */
  readonly directory: ModelDirectory | undefined;
  /** Every missing, empty or unreadable file, in the order the layout lists them. */
  readonly problems: readonly GiraffeError[];
}

/**
 * Reads a model directory in the diffusers ONNX layout and checks every file
 * the pipeline needs, collecting all problems rather than stopping at the
 * first (`giraffe models verify` shows them all).
 */
export function inspectModelDirectory(modelDir: string): ModelDirectoryInspection {
  const dir = path.resolve(modelDir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    const missing = new GiraffeError('GIRAFFE_ERR_MODEL_NOT_FOUND', `${dir}: no such model directory`, {
      model: dir,
    });
    return { directory: undefined, problems: [missing] };
  }
  const problems = new Problems(dir);
  const modelIndex = problems.readJson('model_index.json', true);
  const schedulerConfig = problems.readJson(path.join('scheduler', 'scheduler_config.json'), true);
  problems.requireFile(path.join('tokenizer', 'vocab.json'));
  problems.requireFile(path.join('tokenizer', 'merges.txt'));
  const onnxFiles = Object.fromEntries(
    componentNames.map((name) => [name, problems.requireFile(path.join(name, 'model.onnx'))]),
  ) as Record<ComponentName, string>;

  // SDXL: a second tokenizer and text encoder, required together once either is there.
  const hasSecond =
    fs.existsSync(path.join(dir, 'text_encoder_2')) || fs.existsSync(path.join(dir, 'tokenizer_2'));
  const secondEncoder = hasSecond
    ? problems.requireFile(path.join('text_encoder_2', 'model.onnx'))
    : undefined;
  if (hasSecond) {
    problems.requireFile(path.join('tokenizer_2', 'vocab.json'));
    problems.requireFile(path.join('tokenizer_2', 'merges.txt'));
  }
  const unetConfig = problems.readJson(path.join('unet', 'config.json'), false);

  // Optional: without it the model does text-to-image only; an empty file is still a broken export.
  const vaeEncoderFile = fs.existsSync(path.join(dir, 'vae_encoder', 'model.onnx'))
    ? problems.requireFile(path.join('vae_encoder', 'model.onnx'))
    : undefined;
  const vaeConfig =
    problems.readJson(path.join('vae_decoder', 'config.json'), false) ??
    problems.readJson(path.join('vae', 'config.json'), false);
  const scaling = vaeConfig?.scaling_factor;
  if (scaling !== undefined && (typeof scaling !== 'number' || !(scaling > 0))) {
    problems.add(
      'GIRAFFE_ERR_MODEL_LOAD_FAILED',
      path.join('vae_decoder', 'config.json'),
      `scaling_factor must be a positive number, got ${JSON.stringify(scaling)}`,
    );
  }
  if (problems.list.length > 0) return { directory: undefined, problems: problems.list };

  const defaultImageSize = defaultSize(unetConfig, vaeConfig);
  const directory: ModelDirectory = {
    dir,
    id: path.basename(dir),
    modelIndex: modelIndex!,
    schedulerConfig: schedulerConfig!,
    vaeScalingFactor: typeof scaling === 'number' ? scaling : DEFAULT_VAE_SCALING_FACTOR,
    defaultImageSize,
    tokenizerDir: path.join(dir, 'tokenizer'),
    onnxFiles,
    ...(secondEncoder
      ? { second: { tokenizerDir: path.join(dir, 'tokenizer_2'), textEncoder: secondEncoder } }
      : {}),
    unetConfig: unetConfig ?? {},
    forceZerosForEmptyPrompt: modelIndex!.force_zeros_for_empty_prompt === true,
    ...(vaeEncoderFile !== undefined ? { vaeEncoderFile } : {}),
  };
  return { directory, problems: [] };
}

/**
 * Reads a model directory in the diffusers ONNX layout and checks that every
 * file the pipeline needs is present. Throws one error naming the first file
 * that is missing or unreadable.
 */
export function readModelDirectory(modelDir: string): ModelDirectory {
  const { directory, problems } = inspectModelDirectory(modelDir);
  if (!directory) throw problems[0];
  return directory;
}
