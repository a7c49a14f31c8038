import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { GiraffeError } from '../errors';
import { inspectModelDirectory } from '../pipeline/model';
import { downloadFile } from './download-file';
import { parseRepoRef, type HubClient } from './hub-client';
import { assertModelName, modelDirectory, PULLS_DIR, SOURCE_FILE, type SourceRecord } from './model-store';
import { externalDataFiles, selectPipelineFiles, type PipelineFile } from './pipeline-files';
import { externalDataLocations } from './external-data';
import { checkSupportedPipeline } from './supported-pipeline';

export interface PullOptions {
  /** `OWNER/NAME` or `OWNER/NAME@REVISION` (branch, tag, commit or `refs/pr/N`). */
  readonly ref: string;
  /** The revision, when `ref` names none (`main`, a tag, a commit, `refs/pr/N`). @defaultValue `main` */
  readonly revision?: string;
  readonly modelsDir: string;
  readonly hub: HubClient;
  /** The model's name under `modelsDir`. @defaultValue the repository's name */
  readonly name?: string;
  /** Folder of the repository that holds the export. @defaultValue the root */
  readonly subfolder?: string;
  /** Replace a model of the same name. @defaultValue false */
  readonly force?: boolean;
  /** Consecutive attempts without progress before a file is given up. @defaultValue 5 */
  readonly maxAttempts?: number;
  /** @defaultValue 500 */
  readonly retryDelayMs?: number;
  /**
   * Told what will be fetched, before the weights: after `model_index.json`,
   * `unet/config.json` and the graphs small enough to read their external
   * data locations from (a few MB in all).
   */
  readonly onPlan?: (plan: PullPlan) => void;
  /** Told after every chunk: bytes on disk so far (all files) and the file being fetched. */
  readonly onProgress?: (progress: { file: string; doneBytes: number; totalBytes: number }) => void;
  readonly signal?: AbortSignal;
}

export interface PullPlan {
  readonly repo: string;
  readonly revision: string;
  readonly commit: string;
  readonly files: readonly PipelineFile[];
  readonly totalBytes: number;
}

export interface PullResult extends PullPlan {
  readonly name: string;
  readonly dir: string;
}

/**
 * Graphs up to this size are fetched before the plan and read for the
 * external data they name (a graph whose weights live outside is a few MB;
 * SDXL's U-Net graph is about 7 MB). Larger ones hold their weights inline.
 */
const GRAPH_READ_LIMIT = 64 * 1024 * 1024;

async function readJsonFile(file: string): Promise<Record<string, unknown>> {
  try {
    const parsed = JSON.parse(await fsp.readFile(file, 'utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new GiraffeError('GIRAFFE_ERR_MODEL_NOT_A_PIPELINE', `${path.basename(file)} is not a JSON object`, {
    file,
  });
}

/** State of a pull under way, so a later run resumes it only when it fetches the same commit. */
const STATE_FILE = '.pull-state.json';

async function prepareStaging(staging: string, commit: string, subfolder: string): Promise<void> {
  const stateFile = path.join(staging, STATE_FILE);
  try {
    const state = JSON.parse(await fsp.readFile(stateFile, 'utf8')) as {
      commit?: string;
      subfolder?: string;
    };
    if (state.commit === commit && (state.subfolder ?? '') === subfolder) return;
  } catch {
    // No state: a fresh staging directory, or one from a run that never got this far.
  }
  await fsp.rm(staging, { recursive: true, force: true });
  await fsp.mkdir(staging, { recursive: true });
  await fsp.writeFile(stateFile, JSON.stringify({ commit, subfolder }) + '\n');
}

/**
 * Downloads a Stable Diffusion ONNX export from the Hugging Face Hub into
 * `<modelsDir>/<name>`: resolves the revision to one commit, fetches only the
 * files the pipeline needs into `<modelsDir>/.pulls/<name>` (a second run
 * resumes there), checks every file's size and sha256 (git blob id for small
 * files) and the directory against the model layout, then moves it into place
 * in one rename. Nothing half-made ever appears under the model's name.
 */
export async function pullModel(options: PullOptions): Promise<PullResult> {
  const parsed = parseRepoRef(options.ref);
  const { repo } = parsed;
  if (options.revision !== undefined && options.ref.includes('@') && parsed.revision !== options.revision) {
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      `"${options.ref}" names revision ${parsed.revision}, and --revision names ${options.revision}: give one`,
      { field: 'revision' },
    );
  }
  const revision = options.revision ?? parsed.revision;
  // parseRepoRef allows only characters a model name may hold: the repository's own name is one.
  const name = options.name ?? repo.split('/')[1];
  assertModelName(name);
  const { dir } = modelDirectory(options.modelsDir, name);
  if (fs.existsSync(dir) && !options.force) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_EXISTS',
      `${dir} already exists: pass --force to replace it, or --name to pull under another name`,
      { model: name },
    );
  }

  const commit = await options.hub.resolveCommit(repo, revision);
  const subfolder = options.subfolder ?? '';
  const listing = await options.hub.listFiles(repo, commit);
  const selected = selectPipelineFiles(listing, subfolder);

  const staging = path.join(path.dirname(dir), PULLS_DIR, name);
  await prepareStaging(staging, commit, subfolder);
  const fetched = new Map<string, number>();
  let doneBytes = 0;
  let totalBytes = 0;
  const fetch = async (file: PipelineFile): Promise<string> => {
    const dest = path.join(staging, ...file.path.split('/'));
    await downloadFile(
      {
        url: options.hub.fileUrl(repo, commit, file.repoPath),
        dest,
        size: file.size,
        sha256: file.sha256,
        gitOid: file.gitOid,
      },
      {
        headersFor: (url) => options.hub.headersFor(url),
        maxAttempts: options.maxAttempts,
        retryDelayMs: options.retryDelayMs,
        signal: options.signal,
        onBytes: (delta) => {
          doneBytes += delta;
          if (totalBytes > 0) options.onProgress?.({ file: file.path, doneBytes, totalBytes });
        },
      },
    );
    fetched.set(file.path, file.size);
    return dest;
  };
  const byPath = new Map(selected.map((f) => [f.path, f]));

  // 1. What the model is, from a few kB, before anything large.
  const modelIndex = await readJsonFile(await fetch(byPath.get('model_index.json')!));
  const unetConfigFile = byPath.get('unet/config.json');
  const unetConfig = unetConfigFile ? await readJsonFile(await fetch(unetConfigFile)) : undefined;
  checkSupportedPipeline(`${repo}@${revision}`, modelIndex, unetConfig);

  // 2. The external data each graph names, whatever its name: small graphs are read first.
  const files = [...selected];
  for (const graph of selected.filter((f) => f.path.endsWith('.onnx'))) {
    const locations =
      graph.size <= GRAPH_READ_LIMIT
        ? externalDataLocations(await fsp.readFile(await fetch(graph)), graph.path)
        : undefined;
    for (const extra of externalDataFiles(listing, graph, locations)) {
      if (!files.some((f) => f.path === extra.path)) files.push(extra);
    }
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  totalBytes = files.reduce((sum, f) => sum + f.size, 0);
  const plan: PullPlan = { repo, revision, commit, files, totalBytes };
  options.onPlan?.(plan);
  options.onProgress?.({ file: '', doneBytes, totalBytes });

  // 3. The rest: weights, tokenizers, configs.
  for (const file of files) {
    if (!fetched.has(file.path)) await fetch(file);
  }

  const source: SourceRecord = {
    repo,
    revision,
    commit,
    endpoint: options.hub.endpoint,
    ...(subfolder ? { subfolder } : {}),
    pulled_at: new Date().toISOString(),
    files: files.map((f) => ({
      path: f.path,
      size: f.size,
      ...(f.sha256 ? { sha256: f.sha256 } : {}),
      ...(f.gitOid ? { git_oid: f.gitOid } : {}),
    })),
  };
  await fsp.writeFile(path.join(staging, SOURCE_FILE), JSON.stringify(source, null, 2) + '\n');
  await fsp.rm(path.join(staging, STATE_FILE), { force: true });
  const { problems } = inspectModelDirectory(staging);
  if (problems.length > 0) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_NOT_A_PIPELINE',
      `${repo}@${commit} is not a usable export:\n  ${problems.map((p) => p.message).join('\n  ')}`,
      { problems: problems.map((p) => p.toJSON()) },
    );
  }
  await install(staging, dir);
  return { ...plan, name, dir };
}

/** Moves the finished pull to its name, replacing (with --force) what was there. */
async function install(staging: string, dir: string): Promise<void> {
  const old = path.join(
    path.dirname(staging),
    `.old-${path.basename(dir)}-${randomBytes(4).toString('hex')}`,
  );
  const replacing = fs.existsSync(dir);
  if (replacing) await fsp.rename(dir, old);
  try {
    await fsp.rename(staging, dir);
  } catch (err) {
    if (replacing) await fsp.rename(old, dir);
    throw err;
  }
  await fsp.rm(old, { recursive: true, force: true });
}
