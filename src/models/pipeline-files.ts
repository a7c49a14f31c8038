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
  'tokenizer_2',
  'text_encoder',
  'text_encoder_2',
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
 * Inside a component directory: configs, the tokenizer's text files and the
 * graph giraffe loads (`model.onnx`). Its external weights are whatever the
 * graph names ({@link externalDataFiles}). Other graphs a repository carries
 * beside it (`model_fp16.onnx` …) are alternatives giraffe would not load, so
 * they are not fetched.
 */
const componentFile = /^(?:[^/]+\.(?:json|txt)|model\.onnx)$/;

/** What the diffusers script and optimum call a graph's external data: the guess for a graph too large to read first. */
const conventionalExternalData = ['model.onnx_data', 'model.onnx.data', 'weights.pb'];

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
  // SDXL: a second text encoder needs its tokenizer.
  const second = present.has('text_encoder_2/model.onnx')
    ? ['tokenizer_2/vocab.json', 'tokenizer_2/merges.txt']
    : [];
  const missing = [...requiredPipelineFiles, ...second].filter((f) => !present.has(f));
  if (missing.length > 0) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_NOT_A_PIPELINE',
      `not a Stable Diffusion ONNX export${prefix ? ` in "${prefix}/"` : ''}: missing ${missing.join(', ')}`,
      { missing },
    );
  }
  return selected.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * The files of the listing that a graph's tensors point at (`locations`,
 * relative to the graph's directory, as the graph names them). A location
 * the repository does not have fails the pull before the weights are
 * fetched. `locations` undefined (a graph too large to read before the
 * plan): the conventional names beside it, where present.
 */
export function externalDataFiles(
  files: readonly HubFile[],
  graph: PipelineFile,
  locations: readonly string[] | undefined,
): PipelineFile[] {
  const dir = graph.path.split('/').slice(0, -1).join('/');
  const repoDir = graph.repoPath.split('/').slice(0, -1).join('/');
  const byRepoPath = new Map(files.map((f) => [f.path, f]));
  const out: PipelineFile[] = [];
  for (const location of locations ?? conventionalExternalData) {
    const rel = location.split(/[\\/]/).filter((p) => p !== '' && p !== '.');
    const repoPath = [repoDir, ...rel].filter(Boolean).join('/');
    const file = byRepoPath.get(repoPath);
    if (!file) {
      if (locations === undefined) continue;
      throw new GiraffeError(
        'GIRAFFE_ERR_MODEL_NOT_A_PIPELINE',
        `${graph.path} keeps its weights in "${location}", which the repository does not have at this revision`,
        { file: graph.path, location },
      );
    }
    out.push({ ...file, path: [dir, ...rel].filter(Boolean).join('/'), repoPath });
  }
  return out;
}
