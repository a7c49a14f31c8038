import * as path from 'node:path';
import { GiraffeError } from '../../errors';
import type { OnnxComponent, TensorSignature } from './onnx-component';

/** What the pipeline needs to know about a loaded export, read from its sessions' metadata. */
export interface ModelContract {
  readonly textEncoder: {
    readonly idsInput: string;
    readonly idsType: 'int32' | 'int64';
    readonly output: string;
    readonly sequenceLength: number;
    readonly maxBatch: number;
  };
  readonly unet: {
    readonly timestepType: 'float' | 'int64';
    /** 0 for a scalar timestep (optimum ≥ 1.24), 1 for one per batch item. */
    readonly timestepRank: 0 | 1;
    /** Fixed length of the timestep vector when the export pins it (e.g. 1), else undefined. */
    readonly timestepLength?: number;
    readonly latentChannels: number;
    readonly hiddenSize?: number;
    readonly maxBatch: number;
    /** Width of `timestep_cond` (LCM-distilled U-Nets carry the guidance scale there). */
    readonly timestepCondDim?: number;
    readonly output: string;
    readonly precision: 'float32' | 'float16';
  };
  readonly vaeDecoder: {
    readonly input: string;
    readonly output: string;
    readonly maxBatch: number;
  };
}

function contractError(component: OnnxComponent, problem: string): never {
  const rel = path.join(path.basename(path.dirname(component.file)), path.basename(component.file));
  throw new GiraffeError('GIRAFFE_ERR_MODEL_CONTRACT', `${rel}: ${problem}`, { file: component.file });
}

function requireInput(
  c: OnnxComponent,
  name: string,
  rank: number | readonly number[],
  types: readonly string[],
): TensorSignature {
  const sig = c.input(name);
  const names = c.inputs.map((s) => s.name).join(', ');
  if (!sig) contractError(c, `has no input "${name}" (its inputs: ${names})`);
  const ranks = typeof rank === 'number' ? [rank] : rank;
  if (!ranks.includes(sig.shape.length)) {
    contractError(
      c,
      `input "${name}" has rank ${sig.shape.length} [${sig.shape.join(', ')}], expected rank ${ranks.join(' or ')}`,
    );
  }
  if (!types.includes(sig.type))
    contractError(c, `input "${name}" is ${sig.type}, expected ${types.join(' or ')}`);
  return sig;
}

function pickOutput(c: OnnxComponent, preferred: string, rank: number): TensorSignature {
  const sig = c.outputs.find((s) => s.name === preferred) ?? c.outputs[0];
  if (!sig) contractError(c, 'has no outputs');
  if (sig.shape.length !== rank) {
    contractError(
      c,
      `output "${sig.name}" has rank ${sig.shape.length} [${sig.shape.join(', ')}], expected rank ${rank}`,
    );
  }
  if (sig.type !== 'float32' && sig.type !== 'float16')
    contractError(c, `output "${sig.name}" is ${sig.type}, expected a float tensor`);
  return sig;
}

/** A fixed batch dimension caps how many items one run may take; a symbolic one does not. */
function batchLimit(sig: TensorSignature): number {
  const b = sig.shape[0];
  return typeof b === 'number' && b > 0 ? b : Number.POSITIVE_INFINITY;
}

const fixed = (d: number | string | undefined): number | undefined =>
  typeof d === 'number' && d > 0 ? d : undefined;

/**
 * Checks the three sessions against the Stable Diffusion ONNX contract
 * (DESIGN.md) and derives what the pipeline must adapt to. Throws one
 * error naming the file and the mismatch.
 */
export function checkModelContract(
  textEncoder: OnnxComponent,
  unet: OnnxComponent,
  vaeDecoder: OnnxComponent,
): ModelContract {
  const ids = requireInput(textEncoder, 'input_ids', 2, ['int32', 'int64']);
  const hidden = pickOutput(textEncoder, 'last_hidden_state', 3);
  const sequenceLength = fixed(ids.shape[1]) ?? 77;

  if (unet.input('text_embeds') || unet.input('time_ids')) {
    contractError(
      unet,
      'is an SDXL U-Net (text_embeds/time_ids inputs); giraffe runs SD 1.x, 2.x and LCM/Turbo exports',
    );
  }
  const sample = requireInput(unet, 'sample', 4, ['float32', 'float16']);
  const timestep = requireInput(unet, 'timestep', [0, 1], ['float32', 'float16', 'int64']);
  const ehs = requireInput(unet, 'encoder_hidden_states', 3, ['float32', 'float16']);
  const unetOut = pickOutput(unet, 'out_sample', 4);
  const textWidth = fixed(hidden.shape[2]);
  const unetWidth = fixed(ehs.shape[2]);
  if (textWidth && unetWidth && textWidth !== unetWidth) {
    contractError(
      unet,
      `encoder_hidden_states width ${unetWidth} does not match the text encoder's ${hidden.name} width ${textWidth}`,
    );
  }
  const unetSeq = fixed(ehs.shape[1]);
  if (unetSeq && unetSeq !== sequenceLength) {
    contractError(
      unet,
      `encoder_hidden_states takes ${unetSeq} tokens but the text encoder gives ${sequenceLength}`,
    );
  }
  const cond = unet.input('timestep_cond');

  const latent = requireInput(vaeDecoder, 'latent_sample', 4, ['float32', 'float16']);
  const image = pickOutput(vaeDecoder, 'sample', 4);
  const latentChannels = fixed(sample.shape[1]) ?? 4;
  const vaeChannels = fixed(latent.shape[1]);
  if (vaeChannels && vaeChannels !== latentChannels) {
    contractError(
      vaeDecoder,
      `latent_sample has ${vaeChannels} channels but the U-Net's sample has ${latentChannels}`,
    );
  }
  const imageChannels = fixed(image.shape[1]);
  if (imageChannels && imageChannels !== 3)
    contractError(vaeDecoder, `output "${image.name}" has ${imageChannels} channels, expected 3 (RGB)`);

  return {
    textEncoder: {
      idsInput: ids.name,
      idsType: ids.type as 'int32' | 'int64',
      output: hidden.name,
      sequenceLength,
      maxBatch: batchLimit(ids),
    },
    unet: {
      timestepType: timestep.type === 'int64' ? 'int64' : 'float',
      timestepRank: timestep.shape.length as 0 | 1,
      timestepLength: timestep.shape.length === 1 ? fixed(timestep.shape[0]) : undefined,
      latentChannels,
      hiddenSize: unetWidth ?? textWidth,
      maxBatch: Math.min(batchLimit(sample), batchLimit(ehs)),
      timestepCondDim: cond ? (fixed(cond.shape[cond.shape.length - 1]) ?? 256) : undefined,
      output: unetOut.name,
      precision: sample.type === 'float16' ? 'float16' : 'float32',
    },
    vaeDecoder: { input: latent.name, output: image.name, maxBatch: batchLimit(latent) },
  };
}
