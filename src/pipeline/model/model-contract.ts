import * as path from 'node:path';
import { GiraffeError } from '../../errors';
import { convInputChannels } from './conv-input-channels';
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
    /** Channels of the latents (and of the U-Net's output). */
    readonly latentChannels: number;
    /**
     * Channels of the U-Net's `sample` input: `latentChannels`, or
     * 2·latentChannels + 1 for an inpainting U-Net ([latents, mask, masked-image latents]).
     */
    readonly sampleChannels: number;
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
  /** Absent when the export has no `vae_encoder`. */
  readonly vaeEncoder?: VaeEncoderContract;
}

/**
 * The two `vae_encoder` layouts: diffusers' convert script returns a sample
 * of the latent distribution (`latent_sample`); optimum returns its
 * parameters (`latent_parameters` = mean ‖ logvar on the channel axis), of
 * which giraffe takes the mean (std ≈ 6e-6 for SD's VAE, below float noise).
 */
export interface VaeEncoderContract {
  readonly input: string;
  readonly output: string;
  readonly layout: 'sample' | 'parameters';
  readonly maxBatch: number;
}

/** True when the U-Net takes [latents, mask, masked-image latents]: a 9-channel inpainting U-Net for SD. */
export function isInpaintingUnet(unet: ModelContract['unet']): boolean {
  return unet.sampleChannels === 2 * unet.latentChannels + 1;
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
  vaeEncoder?: OnnxComponent,
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
  const vaeChannels = fixed(latent?.shape[1]);
  // A symbolic channel dimension (the convert script's export) is read from conv_in's weight.
  const sampleChannels =
    fixed(sample?.shape[1]) ??
    (sample ? convInputChannels(unet.file, sample.name) : undefined) ??
    fixed(unetOut?.shape[1]) ??
    vaeChannels ??
    4;
  // The output has the latents' channels; an inpainting U-Net's sample has 2·C + 1.
  const latentChannels = fixed(unetOut?.shape[1]) ?? vaeChannels ?? sampleChannels;
  if (sample && sampleChannels !== latentChannels && sampleChannels !== 2 * latentChannels + 1) {
    p.add(
      unet,
      `sample has ${sampleChannels} channels: expected ${latentChannels} (the output's), or ${2 * latentChannels + 1} for an inpainting U-Net`,
    );
  }
  if (sample && vaeChannels && vaeChannels !== latentChannels) {
    p.add(
      vaeDecoder,
      `latent_sample has ${vaeChannels} channels but the U-Net's latents have ${latentChannels}`,
    );
  }
  const encoder = vaeEncoder ? inspectVaeEncoder(p, vaeEncoder, latentChannels) : undefined;
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
        sampleChannels,
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
      ...(encoder ? { vaeEncoder: encoder } : {}),
    },
    problems: [],
  };
}

/**
 * `vae_encoder`: `sample` [B, 3, H, W] in, `latent_sample` (C channels,
 * convert script) or `latent_parameters` (2·C channels, optimum) out.
 */
function inspectVaeEncoder(
  p: ContractProblems,
  encoder: OnnxComponent,
  latentChannels: number,
): VaeEncoderContract | undefined {
  const input = p.requireInput(encoder, 'sample', 4, ['float32', 'float16']);
  const params = encoder.outputs.find((s) => s.name === 'latent_parameters');
  const output = p.pickOutput(encoder, params ? 'latent_parameters' : 'latent_sample', 4);
  if (!input || !output) return undefined;
  const layout = output.name === 'latent_parameters' ? 'parameters' : 'sample';
  const channels = fixed(output.shape[1]);
  const expected = layout === 'parameters' ? 2 * latentChannels : latentChannels;
  if (channels !== undefined && channels !== expected) {
    return p.add(
      encoder,
      `output "${output.name}" has ${channels} channels, expected ${expected} (${layout === 'parameters' ? 'mean ‖ logvar of ' : ''}${latentChannels} latent channels)`,
    );
  }
  const inChannels = fixed(input.shape[1]);
  if (inChannels !== undefined && inChannels !== 3)
    return p.add(encoder, `input "sample" has ${inChannels} channels, expected 3 (RGB)`);
  return { input: input.name, output: output.name, layout, maxBatch: batchLimit(input) };
}

/**
 * Checks the sessions against the Stable Diffusion ONNX contract
 * (DESIGN.md) and derives what the pipeline must adapt to. Throws one
 * error naming the file and the (first) mismatch.
 */
export function checkModelContract(
  textEncoder: OnnxComponent,
  unet: OnnxComponent,
  vaeDecoder: OnnxComponent,
  vaeEncoder?: OnnxComponent,
  textEncoder2?: OnnxComponent,
): ModelContract {
  const { contract, problems } = inspectModelContract(
    textEncoder,
    unet,
    vaeDecoder,
    vaeEncoder,
    textEncoder2,
  );
  if (!contract) throw problems[0];
  return contract;
}
