import * as path from 'node:path';
import { GiraffeError } from '../../errors';
import type { OnnxComponent, TensorSignature } from './onnx-component';
import {
  addedConditioning,
  isSdxlUnet,
  penultimateHiddenState,
  secondTextEncoder,
  type AddedConditioningContract,
  type SecondTextEncoderContract,
} from './sdxl-contract';

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
    /** SDXL: `text_embeds` and `time_ids`, fed from the second text encoder and the image sizes. */
    readonly addedConditioning?: AddedConditioningContract;
  };
  /** SDXL's `text_encoder_2`; its states follow the first encoder's in `encoder_hidden_states`. */
  readonly textEncoder2?: SecondTextEncoderContract;
  readonly vaeDecoder: {
    readonly input: string;
    readonly output: string;
    readonly maxBatch: number;
    /** Mixed exports ship an fp16 U-Net with a float32 VAE decoder (SDXL's VAE overflows float16). */
    readonly precision: 'float32' | 'float16';
  };
}

/** Collects contract problems, so a check can report every one of them at once. */
class ContractProblems {
  readonly list: GiraffeError[] = [];

  add(component: OnnxComponent, problem: string): undefined {
    const rel = path.join(path.basename(path.dirname(component.file)), path.basename(component.file));
    this.list.push(
      new GiraffeError('GIRAFFE_ERR_MODEL_CONTRACT', `${rel}: ${problem}`, { file: component.file }),
    );
    return undefined;
  }

  requireInput(
    c: OnnxComponent,
    name: string,
    rank: number | readonly number[],
    types: readonly string[],
  ): TensorSignature | undefined {
    const sig = c.input(name);
    const names = c.inputs.map((s) => s.name).join(', ');
    if (!sig) return this.add(c, `has no input "${name}" (its inputs: ${names})`);
    const ranks = typeof rank === 'number' ? [rank] : rank;
    if (!ranks.includes(sig.shape.length)) {
      return this.add(
        c,
        `input "${name}" has rank ${sig.shape.length} [${sig.shape.join(', ')}], expected rank ${ranks.join(' or ')}`,
      );
    }
    if (!types.includes(sig.type))
      return this.add(c, `input "${name}" is ${sig.type}, expected ${types.join(' or ')}`);
    return sig;
  }

  pickOutput(c: OnnxComponent, preferred: string, rank: number): TensorSignature | undefined {
    const sig = c.outputs.find((s) => s.name === preferred) ?? c.outputs[0];
    if (!sig) return this.add(c, 'has no outputs');
    if (sig.shape.length !== rank) {
      return this.add(
        c,
        `output "${sig.name}" has rank ${sig.shape.length} [${sig.shape.join(', ')}], expected rank ${rank}`,
      );
    }
    if (sig.type !== 'float32' && sig.type !== 'float16')
      return this.add(c, `output "${sig.name}" is ${sig.type}, expected a float tensor`);
    return sig;
  }
}

/** A fixed batch dimension caps how many items one run may take; a symbolic one does not. */
function batchLimit(sig: TensorSignature): number {
  const b = sig.shape[0];
  return typeof b === 'number' && b > 0 ? b : Number.POSITIVE_INFINITY;
}

const fixed = (d: number | string | undefined): number | undefined =>
  typeof d === 'number' && d > 0 ? d : undefined;

/** The contract of three sessions, or every way in which they break it. */
export interface ContractInspection {
  /** Undefined when any problem was found. */
  readonly contract: ModelContract | undefined;
  readonly problems: readonly GiraffeError[];
}

/**
 * Checks the three sessions against the Stable Diffusion ONNX contract
 * (DESIGN.md), collecting every mismatch; a check that depends on an input
 * already found wrong is skipped rather than reported twice.
 */
export function inspectModelContract(
  textEncoder: OnnxComponent,
  unet: OnnxComponent,
  vaeDecoder: OnnxComponent,
  textEncoder2?: OnnxComponent,
): ContractInspection {
  const p = new ContractProblems();
  const report = (c: OnnxComponent, problem: string): undefined => p.add(c, problem);
  const ids = p.requireInput(textEncoder, 'input_ids', 2, ['int32', 'int64']);
  const sdxl = isSdxlUnet(unet);
  // SDXL conditions on the penultimate hidden states; SD 1.x/2.x on the last.
  const hidden = sdxl
    ? penultimateHiddenState(textEncoder, report)
    : p.pickOutput(textEncoder, 'last_hidden_state', 3);
  const sequenceLength = fixed(ids?.shape[1]) ?? 77;

  const added = sdxl ? addedConditioning(unet, report) : undefined;
  if (sdxl && !textEncoder2)
    p.add(
      unet,
      'is an SDXL U-Net (text_embeds/time_ids inputs) but the export has no text_encoder_2/model.onnx',
    );
  const second =
    sdxl && textEncoder2 ? secondTextEncoder(textEncoder2, report, added?.textEmbedsDim) : undefined;
  const sample = p.requireInput(unet, 'sample', 4, ['float32', 'float16']);
  const timestep = p.requireInput(unet, 'timestep', [0, 1], ['float32', 'float16', 'int64']);
  const ehs = p.requireInput(unet, 'encoder_hidden_states', 3, ['float32', 'float16']);
  const unetOut = p.pickOutput(unet, 'out_sample', 4);
  // SDXL's U-Net takes both encoders' states side by side.
  const firstWidth = fixed(hidden?.shape[2]);
  const textWidth = !sdxl ? firstWidth : firstWidth && second?.width ? firstWidth + second.width : undefined;
  const unetWidth = fixed(ehs?.shape[2]);
  if (hidden && textWidth && unetWidth && textWidth !== unetWidth) {
    p.add(
      unet,
      sdxl
        ? `encoder_hidden_states width ${unetWidth} is not the sum of both text encoders' widths (${textWidth})`
        : `encoder_hidden_states width ${unetWidth} does not match the text encoder's ${hidden.name} width ${textWidth}`,
    );
  }
  const unetSeq = fixed(ehs?.shape[1]);
  if (ids && unetSeq && unetSeq !== sequenceLength) {
    p.add(unet, `encoder_hidden_states takes ${unetSeq} tokens but the text encoder gives ${sequenceLength}`);
  }
  const cond = unet.input('timestep_cond');

  const latent = p.requireInput(vaeDecoder, 'latent_sample', 4, ['float32', 'float16']);
  const image = p.pickOutput(vaeDecoder, 'sample', 4);
  const latentChannels = fixed(sample?.shape[1]) ?? 4;
  const vaeChannels = fixed(latent?.shape[1]);
  if (sample && vaeChannels && vaeChannels !== latentChannels) {
    p.add(
      vaeDecoder,
      `latent_sample has ${vaeChannels} channels but the U-Net's sample has ${latentChannels}`,
    );
  }
  const imageChannels = fixed(image?.shape[1]);
  if (image && imageChannels && imageChannels !== 3)
    p.add(vaeDecoder, `output "${image.name}" has ${imageChannels} channels, expected 3 (RGB)`);

  if (
    !ids ||
    !hidden ||
    !sample ||
    !timestep ||
    !ehs ||
    !unetOut ||
    !latent ||
    !image ||
    (sdxl && (!added || !second)) ||
    p.list.length > 0
  ) {
    return { contract: undefined, problems: p.list };
  }
  return {
    contract: {
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
        ...(added ? { addedConditioning: added } : {}),
      },
      ...(second ? { textEncoder2: second.contract } : {}),
      vaeDecoder: {
        input: latent.name,
        output: image.name,
        maxBatch: batchLimit(latent),
        precision: latent.type === 'float16' ? 'float16' : 'float32',
      },
    },
    problems: [],
  };
}

/**
 * Checks the three sessions against the Stable Diffusion ONNX contract
 * (DESIGN.md) and derives what the pipeline must adapt to. Throws one
 * error naming the file and the (first) mismatch.
 */
export function checkModelContract(
  textEncoder: OnnxComponent,
  unet: OnnxComponent,
  vaeDecoder: OnnxComponent,
  textEncoder2?: OnnxComponent,
): ModelContract {
  const { contract, problems } = inspectModelContract(textEncoder, unet, vaeDecoder, textEncoder2);
  if (!contract) throw problems[0];
  return contract;
}
