import * as path from 'node:path';
import { writeDirectoryAtomically } from './atomic-dir';
import { writeDemoTokenizer } from './demo-vocabulary';
import { modelIndex, sd15SchedulerConfig, unetConfig, vaeConfig, writeJson } from './diffusers-layout';
import {
  buildFixtureTextEncoder,
  buildFixtureUnet,
  buildFixtureVaeDecoder,
  buildFixtureVaeEncoder,
  type FixtureShape,
} from './fixture-graphs';

/**
 * How a fixture model differs from the plain diffusers fp32 export; each
 * option mirrors a real variation between exporters (see SD-REFERENCE.md).
 */
export interface FixtureOptions {
  /** dtype of the text encoder's `input_ids`: int32 (diffusers convert script) or int64 (optimum). @defaultValue `'int32'` */
  readonly idsType?: 'int32' | 'int64';
  /**
   * The U-Net's `timestep`: float [B] (diffusers convert script), float
   * rank-0 scalar (optimum ≥ 1.24), or int64 [B] (optimum < 1.24). Float
   * timesteps are float16 in fp16 models. @defaultValue `'float-batch'`
   */
  readonly timestep?: 'float-batch' | 'float-scalar' | 'int64-batch';
  /** fp16: every float input, output and weight is float16 (the graphs compute in float32 inside). @defaultValue `'fp32'` */
  readonly precision?: 'fp32' | 'fp16';
  /** A fixed batch size for every model input (e.g. 1), or `'dynamic'` for a symbolic `batch`. @defaultValue `'dynamic'` */
  readonly batch?: 'dynamic' | number;
  /**
   * Where each `model.onnx` keeps its weights: inline, or (for every
   * initializer of 1 KiB or more) in `model.onnx_data` (optimum) or
   * `weights.pb` (diffusers convert script) beside it. @defaultValue `'none'`
   */
  readonly externalData?: 'none' | 'model.onnx_data' | 'weights.pb';
  /** Text embedding width D. @defaultValue 32 */
  readonly hiddenSize?: number;
  /** U-Net width C (even). @defaultValue 32 */
  readonly channels?: number;
  /** VAE decoder width. @defaultValue 16 */
  readonly vaeChannels?: number;
  /** Seed of the random weights. @defaultValue 1 */
  readonly seed?: number;
  /**
   * A `vae_encoder` and its output: `latent_sample` (diffusers convert
   * script) or `latent_parameters` = mean ‖ logvar (optimum); `'none'`
   * writes none (a text-to-image-only export). @defaultValue `'none'`
   */
  readonly vaeEncoder?: 'none' | 'latent_sample' | 'latent_parameters';
  /** A 9-channel inpainting U-Net. @defaultValue false */
  readonly inpainting?: boolean;
}

/** A named fixture configuration for `describe.each`. */
export interface FixtureVariant {
  /** Short id, usable as a directory name. */
  readonly name: string;
  /** Which real export it imitates. */
  readonly description: string;
  readonly options: FixtureOptions;
}

/** Option sets covering every contract variant the pipeline must handle. */
export const fixtureVariants: readonly FixtureVariant[] = [
  {
    name: 'diffusers-fp32',
    description: 'diffusers convert script, fp32: int32 ids, float [B] timestep, dynamic batch',
    options: {},
  },
  {
    name: 'diffusers-fp16-weights-pb',
    description: 'diffusers convert script, fp16, external weights in weights.pb',
    options: { precision: 'fp16', externalData: 'weights.pb' },
  },
  {
    name: 'optimum-legacy',
    description: 'optimum < 1.24: int64 ids, int64 [B] timestep, external weights in model.onnx_data',
    options: { idsType: 'int64', timestep: 'int64-batch', externalData: 'model.onnx_data' },
  },
  {
    name: 'optimum-scalar-timestep',
    description: 'optimum ≥ 1.24: int64 ids, float rank-0 timestep, external weights in model.onnx_data',
    options: { idsType: 'int64', timestep: 'float-scalar', externalData: 'model.onnx_data' },
  },
  {
    name: 'fixed-batch-1',
    description: 'static batch 1 on every input (mobile/TensorRT-style exports): CFG needs two U-Net calls',
    options: { batch: 1 },
  },
  {
    name: 'optimum-fp16-batch-1',
    description: 'optimum fp16 with static batch 1, int64 ids and a float16 scalar timestep',
    options: { precision: 'fp16', idsType: 'int64', timestep: 'float-scalar', batch: 1 },
  },
];

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`fixture option ${name} must be a positive integer, got ${value}`);
  return value;
}

function resolve(options: FixtureOptions, vocabSize: number): FixtureShape {
  const channels = positiveInteger('channels', options.channels ?? 32);
  if (channels % 2 !== 0) throw new RangeError(`fixture option channels must be even, got ${channels}`);
  const batch = options.batch ?? 'dynamic';
  return {
    idsType: options.idsType ?? 'int32',
    timestep: options.timestep ?? 'float-batch',
    precision: options.precision ?? 'fp32',
    batch: batch === 'dynamic' ? 'batch' : positiveInteger('batch', batch),
    hiddenSize: positiveInteger('hiddenSize', options.hiddenSize ?? 32),
    channels,
    vaeChannels: positiveInteger('vaeChannels', options.vaeChannels ?? 16),
    seed: options.seed ?? 1,
    vocabSize,
    inpainting: options.inpainting ?? false,
  };
}

/**
 * Writes a tiny random-weight model shaped like Stable Diffusion into `dir`,
 * in the same layout as the demo model (and the same small tokenizer). Its
 * outputs are finite and of sensible size but mean nothing; it exists to
 * exercise the pipeline against each exporter's input/output contract.
 * The default image size (VAE `sample_size`) is 64 pixels.
 */
export async function writeFixtureModel(dir: string, options: FixtureOptions = {}): Promise<void> {
  await writeDirectoryAtomically(path.resolve(dir), async (out) => {
    const vocabulary = await writeDemoTokenizer(path.join(out, 'tokenizer'));
    const shape = resolve(options, vocabulary.size);
    const external =
      options.externalData === undefined || options.externalData === 'none'
        ? {}
        : { externalData: options.externalData };
    await writeJson(path.join(out, 'model_index.json'), modelIndex());
    await writeJson(path.join(out, 'scheduler', 'scheduler_config.json'), sd15SchedulerConfig());
    await writeJson(
      path.join(out, 'unet', 'config.json'),
      unetConfig(8, shape.hiddenSize, shape.inpainting ? 9 : 4),
    );
    await writeJson(path.join(out, 'vae_decoder', 'config.json'), vaeConfig(64, [shape.vaeChannels]));
    await writeJson(path.join(out, 'text_encoder', 'config.json'), {
      hidden_size: shape.hiddenSize,
      max_position_embeddings: 77,
    });
    await buildFixtureTextEncoder(shape).save(path.join(out, 'text_encoder', 'model.onnx'), external);
    await buildFixtureUnet(shape).save(path.join(out, 'unet', 'model.onnx'), external);
    await buildFixtureVaeDecoder(shape).save(path.join(out, 'vae_decoder', 'model.onnx'), external);
    if (options.vaeEncoder !== undefined && options.vaeEncoder !== 'none') {
      await writeJson(path.join(out, 'vae_encoder', 'config.json'), vaeConfig(64, [shape.vaeChannels]));
      await buildFixtureVaeEncoder(shape, options.vaeEncoder).save(
        path.join(out, 'vae_encoder', 'model.onnx'),
        external,
      );
    }
    await writeJson(path.join(out, 'giraffe.json'), { format: 'giraffe-fixture', version: 1, options });
  });
}
