import { GiraffeError } from '../errors';
import { componentNames } from '../pipeline/model';
import type { HubFile } from './hub-client';

/**
 * Sub-directories of a diffusers/optimum ONNX export that giraffe reads (or
 * will read: `vae_encoder` for img2img, `taesd` for previews). Everything else
 * in a repository — PyTorch weights, safety checker, feature extractor,
 * README, sample images — is left on the Hub.
 */
const pipelineDirectories: readonly string[] = [
  'scheduler',
  'tokenizer',
  'text_encoder',
  'unet',
  'vae_decoder',
  'vae_encoder',
  'taesd',
];

/** Files a pipeline cannot run without (what the model layout check requires), relative to the export's root. */
const requiredPipelineFiles: readonly string[] = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  ...componentNames.map((name) => `${name}/model.onnx`),
];

/**
 * Inside a component directory: configs, the tokenizer's text files, the
 * graph giraffe loads (`model.onnx`) and its external weights
 * (`model.onnx_data` from optimum, `weights.pb` from the diffusers script).
 * Other graphs a repository carries beside it (`model_fp16.onnx` …) are
 * alternatives giraffe would not load, so they are not fetched.
 */
const componentFile = /^(?:[^/]+\.(?:json|txt)|model\.onnx|model\.onnx_data|model\.onnx\.data|weights\.pb)$/;

/** A file of the export, with its path made relative to the export's root. */
export interface PipelineFile extends HubFile {
  /** Path inside the repository (with the subfolder). */
  readonly repoPath: string;
}

/**
 * Picks the files an ONNX Stable Diffusion pipeline needs from a repository
 * listing, optionally inside `subfolder`, and checks that none of the
 * required ones is missing (before gigabytes are fetched for nothing).
 */
export function selectPipelineFiles(files: readonly HubFile[], subfolder = ''): PipelineFile[] {
  const prefix = subfolder.replace(/^\/+|\/+$/g, '');
  const base = prefix ? `${prefix}/` : '';
  const selected: PipelineFile[] = [];
  for (const file of files) {
    if (!file.path.startsWith(base)) continue;
    const rel = file.path.slice(base.length);
    const parts = rel.split('/');
    const wanted =
      (parts.length === 1 && rel === 'model_index.json') ||
      (parts.length === 2 && pipelineDirectories.includes(parts[0]) && componentFile.test(parts[1]));
    if (wanted) selected.push({ ...file, path: rel, repoPath: file.path });
  }
  const present = new Set(selected.map((f) => f.path));
  const missing = requiredPipelineFiles.filter((f) => !present.has(f));
  if (missing.length > 0) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_NOT_A_PIPELINE',
      `not a Stable Diffusion ONNX export${prefix ? ` in "${prefix}/"` : ''}: missing ${missing.join(', ')}`,
      { missing },
    );
  }
  return selected.sort((a, b) => a.path.localeCompare(b.path));
}
