import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import type { Config } from '../config';
import { GiraffeError } from '../errors';
import { HubClient, listModels, modelDirectory, pullModel, removeModel, verifyModel } from '../models';
import { builtInModelIds, isBuiltInModel } from './built-in-models';
import { resolveModel } from './resolve-model';

export const modelsUsage = `Usage: giraffe models <command>

  list                          the models in MODELS_DIR, with size and status
  pull OWNER/NAME[@REVISION]    download a Stable Diffusion ONNX export from the Hub
       [--revision REV]         a branch, tag, commit or refs/pr/N (default main)
       [--name NAME]            its name under MODELS_DIR (default: the repository's name)
       [--subfolder DIR]        the folder of the repository holding the export
       [--force]                replace a model of the same name
  verify NAME|DIR               check a model against the ONNX contract; lists every problem
       [--quick]                files only, without opening the graphs in onnxruntime
       [--checksums]            re-hash the files a pull recorded
       [--device cpu|cuda:N]    where to open the graphs (default cpu)
  rm NAME                       delete a model from MODELS_DIR

pull reads model_index.json first and refuses a model giraffe cannot run
before anything large is fetched, fetches every external data file the graphs
name, shows the total size before the weights, honours HF_ENDPOINT and
HF_TOKEN (gated or private repositories), resumes an interrupted download when
run again, and checks every file's sha256.
`;

/** `1.6 GB`, `420 MB`, `12 kB`: decimal units, as the Hub shows sizes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function list(config: Config): number {
  const models = listModels(config.MODELS_DIR);
  const rows = [['NAME', 'SIZE', 'STATUS', 'SOURCE']];
  for (const m of models) {
    const status = m.status === 'incomplete' ? `incomplete (${m.problems.length} problems)` : m.status;
    const source = m.source ? `${m.source.repo}@${m.source.commit.slice(0, 12)}` : '';
    rows.push([m.name, formatBytes(m.bytes), m.status === 'partial' ? 'partial download' : status, source]);
  }
  for (const id of builtInModelIds())
    rows.push([id, '-', 'built in', 'generated under DATA_DIR on first use']);
  process.stdout.write(`models in ${path.resolve(config.MODELS_DIR)}:\n${table(rows)}`);
  for (const m of models.filter((x) => x.status === 'incomplete')) {
    process.stdout.write(`\n${m.name}:\n  ${m.problems.join('\n  ')}\n`);
  }
  return 0;
}

async function pull(args: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      revision: { type: 'string' },
      subfolder: { type: 'string' },
      force: { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) {
    process.stderr.write(`giraffe models pull: name one repository\n\n${modelsUsage}`);
    return 2;
  }
  const hub = new HubClient({ endpoint: config.HF_ENDPOINT, token: config.HF_TOKEN });
  const bar = new SingleBar(
    {
      format: '{bar} {percentage}% | {done}/{size} | eta {eta_formatted} | {file}',
      noTTYOutput: true,
      notTTYSchedule: 5000,
      stream: process.stderr,
      etaBuffer: 200,
    },
    Presets.shades_classic,
  );
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  let started = false;
  try {
    const result = await pullModel({
      ref: positionals[0],
      modelsDir: config.MODELS_DIR,
      hub,
      name: values.name,
      revision: values.revision,
      subfolder: values.subfolder,
      force: values.force,
      signal: interrupt.signal,
      onPlan: (plan) => {
        process.stderr.write(
          `pulling ${plan.repo}@${plan.revision} (commit ${plan.commit.slice(0, 12)}): ` +
            `${plan.files.length} files, ${formatBytes(plan.totalBytes)} from ${hub.endpoint}\n`,
        );
        bar.start(plan.totalBytes, 0, { done: formatBytes(0), size: formatBytes(plan.totalBytes), file: '' });
        started = true;
      },
      onProgress: ({ file, doneBytes }) => bar.update(doneBytes, { done: formatBytes(doneBytes), file }),
    });
    bar.stop();
    process.stdout.write(
      `pulled ${result.repo}@${result.commit.slice(0, 12)} into ${result.dir} (${formatBytes(result.totalBytes)})\n` +
        `next: giraffe models verify ${result.name}   (opens the graphs in onnxruntime)\n`,
    );
    return 0;
  } catch (err) {
    if (started) bar.stop();
    if (interrupt.signal.aborted) {
      process.stderr.write('interrupted: run the same pull again to resume\n');
      return 130;
    }
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}

async function verify(args: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean' },
      checksums: { type: 'boolean' },
      device: { type: 'string' },
    },
  });
  if (positionals.length !== 1) {
    process.stderr.write(`giraffe models verify: name one model or directory\n\n${modelsUsage}`);
    return 2;
  }
  const arg = positionals[0];
  const underModels = path.join(config.MODELS_DIR, arg);
  const dir =
    isBuiltInModel(arg) && !fs.existsSync(underModels)
      ? (await resolveModel(arg, config)).dir
      : !arg.includes('/') && fs.existsSync(underModels)
        ? underModels
        : arg;
  const report = await verifyModel(dir, {
    load: !values.quick,
    checksums: values.checksums,
    device: values.device,
  });
  if (report.problems.length === 0) {
    const c = report.contract;
    const detail = c
      ? `: text encoder takes ${c.textEncoder.idsType} ids, U-Net is ${c.unet.precision} with ${c.unet.timestepType} timesteps` +
        `${c.unet.hiddenSize ? `, ${c.unet.hiddenSize}-wide text embeddings` : ''}` +
        `${c.textEncoder2 ? ' (SDXL: two text encoders, text_embeds and time_ids)' : ''}`
      : ' (files only)';
    process.stdout.write(`ok ${report.dir}${detail}\n`);
    return 0;
  }
  process.stdout.write(
    `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${report.dir}:\n`,
  );
  for (const p of report.problems) process.stdout.write(`  [${p.code}] ${p.message}\n`);
  return 1;
}

async function rm(args: string[], config: Config): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length !== 1) {
    process.stderr.write(`giraffe models rm: name one model\n\n${modelsUsage}`);
    return 2;
  }
  if (
    isBuiltInModel(positionals[0]) &&
    !fs.existsSync(modelDirectory(config.MODELS_DIR, positionals[0]).dir)
  ) {
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_PATH_REFUSED',
      `the built-in model "${positionals[0]}" is not in MODELS_DIR; giraffe writes it under DATA_DIR when needed`,
    );
  }
  const removed = await removeModel(config.MODELS_DIR, positionals[0]);
  process.stdout.write(`removed ${removed.name} (${formatBytes(removed.bytes)})\n`);
  return 0;
}

/** `giraffe models list | pull | verify | rm`. */
export async function modelsCommand(argv: string[], config: Config): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list':
    case 'ls':
      return list(config);
    case 'pull':
      return pull(rest, config);
    case 'verify':
      return verify(rest, config);
    case 'rm':
    case 'remove':
      return rm(rest, config);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(modelsUsage);
      return sub === undefined ? 2 : 0;
    default:
      process.stderr.write(`giraffe models: unknown command "${sub}"\n\n${modelsUsage}`);
      return 2;
  }
}
