import * as fs from 'node:fs';
import * as path from 'node:path';
import { GiraffeError } from '../errors';
import { ClipTokenizer } from '../pipeline';
import {
  componentNames,
  inspectModelContract,
  inspectModelDirectory,
  OnnxComponent,
  type ModelContract,
} from '../pipeline/model';
import { checksumProblem } from './file-checksum';
import { readSource } from './model-store';

export interface VerifyOptions {
  /** Open the ONNX files with onnxruntime and check their inputs and outputs. @defaultValue true */
  readonly load?: boolean;
  /** Where the sessions are opened (fp16 exports optimised for CUDA load only there). @defaultValue `cpu` */
  readonly device?: string;
  /** Re-hash every file a pull recorded (slow on large weights). @defaultValue false */
  readonly checksums?: boolean;
}

export interface VerifyReport {
  readonly dir: string;
  /** Every problem found; empty when the directory keeps the contract. */
  readonly problems: readonly GiraffeError[];
  /** What the sessions declare, when they were opened and keep the contract. */
  readonly contract?: ModelContract;
}

function asGiraffeError(err: unknown, file: string): GiraffeError {
  if (err instanceof GiraffeError) return err;
  return new GiraffeError(
    'GIRAFFE_ERR_MODEL_LOAD_FAILED',
    `${file}: ${(err as Error).message ?? String(err)}`,
    { file },
    { cause: err },
  );
}

/** Files a pull recorded that are missing, have another size, or (with `checksums`) other content. */
async function sourceProblems(dir: string, checksums: boolean): Promise<GiraffeError[]> {
  const source = readSource(dir);
  if (!source) return [];
  const problems: GiraffeError[] = [];
  for (const f of source.files) {
    const file = path.join(dir, ...f.path.split('/'));
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) {
      // The layout check reports the files the pipeline needs; this reports the rest a pull fetched.
      problems.push(
        new GiraffeError('GIRAFFE_ERR_MODEL_FILE_MISSING', `${file}: is missing (the pull fetched it)`, {
          file,
        }),
      );
      continue;
    }
    const problem = await checksumProblem(
      file,
      { size: f.size, sha256: f.sha256, gitOid: f.git_oid },
      { hash: checksums, source: 'the pull fetched' },
    );
    if (problem) {
      problems.push(new GiraffeError('GIRAFFE_ERR_MODEL_CHECKSUM_MISMATCH', `${file}: ${problem}`, { file }));
    }
  }
  return problems;
}

/**
 * Checks a model directory against the Stable Diffusion ONNX contract and
 * reports every problem at once: missing or unreadable files, files that
 * differ from what `models pull` fetched, a tokenizer that does not parse,
 * graphs onnxruntime cannot open, and inputs/outputs that break the contract.
 */
export async function verifyModel(modelDir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const dir = path.resolve(modelDir);
  const layout = inspectModelDirectory(dir);
  const problems: GiraffeError[] = [...layout.problems];
  if (layout.problems.some((p) => p.code === 'GIRAFFE_ERR_MODEL_NOT_FOUND')) return { dir, problems };
  const reported = new Set(layout.problems.map((p) => p.details.file));
  for (const p of await sourceProblems(dir, options.checksums ?? false)) {
    if (!reported.has(path.relative(dir, String(p.details.file)))) problems.push(p);
  }
  if (options.load === false) return { dir, problems };

  const tokenizerDir = path.join(dir, 'tokenizer');
  if (
    !reported.has(path.join('tokenizer', 'vocab.json')) &&
    !reported.has(path.join('tokenizer', 'merges.txt'))
  ) {
    try {
      ClipTokenizer.fromModelDir(tokenizerDir);
    } catch (err) {
      problems.push(asGiraffeError(err, tokenizerDir));
    }
  }

  const opened: OnnxComponent[] = [];
  let contract: ModelContract | undefined;
  let textEncoder2: OnnxComponent | undefined;
  try {
    for (const name of componentNames) {
      const rel = path.join(name, 'model.onnx');
      if (reported.has(rel)) continue;
      try {
        opened.push(
          await OnnxComponent.create(path.join(dir, rel), rel, { device: options.device ?? 'cpu' }),
        );
      } catch (err) {
        problems.push(asGiraffeError(err, path.join(dir, rel)));
      }
    }
    // SDXL: the second text encoder, where the layout check found one.
    const second = layout.directory?.second;
    if (second && opened.length === componentNames.length) {
      try {
        textEncoder2 = await OnnxComponent.create(second.textEncoder, 'text_encoder_2/model.onnx', {
          device: options.device ?? 'cpu',
        });
      } catch (err) {
        problems.push(asGiraffeError(err, second.textEncoder));
      }
    }
    if (opened.length === componentNames.length && (!second || textEncoder2)) {
      const [textEncoder, unet, vaeDecoder] = opened;
      // Optional (image-to-image, inpainting): checked when present.
      const encoderRel = path.join('vae_encoder', 'model.onnx');
      let vaeEncoder: OnnxComponent | undefined;
      if (fs.existsSync(path.join(dir, encoderRel)) && !reported.has(encoderRel)) {
        try {
          vaeEncoder = await OnnxComponent.create(path.join(dir, encoderRel), encoderRel, {
            device: options.device ?? 'cpu',
          });
          opened.push(vaeEncoder);
        } catch (err) {
          problems.push(asGiraffeError(err, path.join(dir, encoderRel)));
        }
      }
      const inspection = inspectModelContract(textEncoder, unet, vaeDecoder, vaeEncoder, textEncoder2);
      problems.push(...inspection.problems);
      contract = inspection.contract;
    }
  } finally {
    await Promise.allSettled([...opened, ...(textEncoder2 ? [textEncoder2] : [])].map((c) => c.release()));
  }
  return { dir, problems, contract };
}
