import * as path from 'node:path';
import { writeDirectoryAtomically } from './atomic-dir';
import { writeDemoTokenizer } from './demo-vocabulary';
import {
  modelIndex,
  schedulerConfigs,
  sdxlModelIndex,
  unetConfig,
  vaeConfig,
  writeJson,
  type SchedulerFamily,
} from './diffusers-layout';
import {
  buildFixtureTextEncoder,
  buildFixtureUnet,
  buildFixtureVaeDecoder,
  buildFixtureVaeEncoder,
  type FixtureShape,
} from './fixture-graphs';
import { buildSdxlTextEncoder } from './sdxl-fixture-graphs';

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
   * initializer of 1 KiB or more) in a file beside it: `model.onnx_data`
   * (optimum), `weights.pb` (diffusers convert script), or any other name
   * (hand-made exports). @defaultValue `'none'`
   */
  readonly externalData?: 'none' | 'model.onnx_data' | 'weights.pb' | (string & {});
  /** Text embedding width D. @defaultValue 32 */
  readonly hiddenSize?: number;
  /** U-Net width C (even). @defaultValue 32 */
  readonly channels?: number;
  /** VAE decoder width. @defaultValue 16 */
  readonly vaeChannels?: number;
  /** Seed of the random weights. @defaultValue 1 */
  readonly seed?: number;
  /**
   * `sdxl`: optimum's SDXL layout — a second tokenizer (padding with `!`) and
   * text encoder (`text_embeds`, `hidden_states.N`), a U-Net taking both
   * encoders' states side by side plus `text_embeds` and `time_ids`, VAE
   * factor 0.13025. @defaultValue `'sd'`
   */
  readonly family?: 'sd' | 'sdxl';
  /** Whose `scheduler_config.json` to write. @defaultValue `'sd15'` (`'sdxl'` for the SDXL family) */
  readonly scheduler?: SchedulerFamily;
  /** The VAE decoder's precision when it differs from `precision` (mixed exports: fp16 U-Net, fp32 VAE). */
  readonly vaePrecision?: 'fp32' | 'fp16';
  /**
   * Multiplies the VAE decoder's output: a large factor (1e6) in an fp16
   * decoder overflows float16 to infinity, as SDXL's VAE does in fp16. @defaultValue 1
   */
  readonly vaeOutputScale?: number;
  /** The U-Net config's `sample_size` (latent side); the model's default image side is 8× this. @defaultValue 8 */
  readonly sampleSize?: number;
  /**
   * A `vae_encoder` and its output: `latent_sample` (diffusers convert
   * script) or `latent_parameters` = mean ‖ logvar (optimum); `'none'`
   * writes none (a text-to-image-only export). @defaultValue `'none'`
   */
  readonly vaeEncoder?: 'none' | 'latent_sample' | 'latent_parameters';
  /** A 9-channel inpainting U-Net. @defaultValue false */
  readonly inpainting?: boolean;
}

/** The SDXL fixture's second text encoder: its width and its projected pooled width. */
const SDXL_SECOND_WIDTH = 40;
const SDXL_TEXT_EMBEDS = 24;

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
    const sdxl = options.family === 'sdxl';
    const sampleSize = positiveInteger('sampleSize', options.sampleSize ?? 8);
    const scheduler = schedulerConfigs[options.scheduler ?? (sdxl ? 'sdxl' : 'sd15')]();
    await writeJson(path.join(out, 'model_index.json'), sdxl ? sdxlModelIndex() : modelIndex());
    await writeJson(path.join(out, 'scheduler', 'scheduler_config.json'), scheduler);
    await writeJson(path.join(out, 'text_encoder', 'config.json'), {
      hidden_size: shape.hiddenSize,
      max_position_embeddings: 77,
    });
    const vae = vaeConfig(sampleSize * 8, [shape.vaeChannels]);
    if (sdxl) {
      const unetShape = {
        ...shape,
        hiddenSize: shape.hiddenSize + SDXL_SECOND_WIDTH,
        addedCondition: { textEmbedsDim: SDXL_TEXT_EMBEDS },
      };
      await writeDemoTokenizer(path.join(out, 'tokenizer_2'), '!');
      await writeJson(path.join(out, 'text_encoder_2', 'config.json'), {
        hidden_size: SDXL_SECOND_WIDTH,
        projection_dim: SDXL_TEXT_EMBEDS,
        max_position_embeddings: 77,
      });
      await writeJson(
        path.join(out, 'unet', 'config.json'),
        unetConfig(sampleSize, unetShape.hiddenSize, shape.inpainting ? 9 : 4, {
          addition_embed_type: 'text_time',
          projection_class_embeddings_input_dim: SDXL_TEXT_EMBEDS + 6 * 8,
        }),
      );
      await writeJson(path.join(out, 'vae_decoder', 'config.json'), { ...vae, scaling_factor: 0.13025 });
      await buildSdxlTextEncoder(shape, { width: shape.hiddenSize, layers: 2, seedOffset: 1 }).save(
        path.join(out, 'text_encoder', 'model.onnx'),
        external,
      );
      await buildSdxlTextEncoder(shape, {
        width: SDXL_SECOND_WIDTH,
        layers: 2,
        projectionDim: SDXL_TEXT_EMBEDS,
        seedOffset: 4,
      }).save(path.join(out, 'text_encoder_2', 'model.onnx'), external);
      await buildFixtureUnet(unetShape).save(path.join(out, 'unet', 'model.onnx'), external);
    } else {
      await writeJson(
        path.join(out, 'unet', 'config.json'),
        unetConfig(sampleSize, shape.hiddenSize, shape.inpainting ? 9 : 4),
      );
      await writeJson(path.join(out, 'vae_decoder', 'config.json'), vae);
      await buildFixtureTextEncoder(shape).save(path.join(out, 'text_encoder', 'model.onnx'), external);
      await buildFixtureUnet(shape).save(path.join(out, 'unet', 'model.onnx'), external);
    }
    const vaeShape = { ...shape, precision: options.vaePrecision ?? shape.precision };
    await buildFixtureVaeDecoder(vaeShape, options.vaeOutputScale).save(
      path.join(out, 'vae_decoder', 'model.onnx'),
      external,
    );
    if (options.vaeEncoder !== undefined && options.vaeEncoder !== 'none') {
      await writeJson(
        path.join(out, 'vae_encoder', 'config.json'),
        sdxl ? { ...vae, scaling_factor: 0.13025 } : vae,
      );
      await buildFixtureVaeEncoder(shape, options.vaeEncoder).save(
        path.join(out, 'vae_encoder', 'model.onnx'),
        external,
      );
    }
    await writeJson(path.join(out, 'giraffe.json'), { format: 'giraffe-fixture', version: 1, options });
  });
}
