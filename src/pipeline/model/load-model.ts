import { ClipTokenizer } from '../tokenizer';
import { checkModelContract, type ModelContract } from './model-contract';
import { readModelDirectory, type ModelDirectory } from './model-directory';
import { OnnxComponent, type SessionSettings } from './onnx-component';
import { GiraffeError } from '../../errors';

/** A model directory with its three ONNX sessions open and its contract checked. */
export interface LoadedModel {
  readonly directory: ModelDirectory;
  readonly contract: ModelContract;
  readonly tokenizer: ClipTokenizer;
  readonly textEncoder: OnnxComponent;
  readonly unet: OnnxComponent;
  readonly vaeDecoder: OnnxComponent;
  /** SDXL's second tokenizer and text encoder (`tokenizer_2/`, `text_encoder_2/`). */
  readonly tokenizer2?: ClipTokenizer;
  readonly textEncoder2?: OnnxComponent;
  /** Present when the export has a `vae_encoder` (image-to-image, inpainting). */
  readonly vaeEncoder?: OnnxComponent;
  /** The device the sessions run on (`cpu`, `cuda:0`, …). */
  readonly device: string;
  release(): Promise<void>;
}

function loadTokenizer(directory: ModelDirectory, tokenizerDir = directory.tokenizerDir): ClipTokenizer {
  try {
    return ClipTokenizer.fromModelDir(tokenizerDir);
  } catch (err) {
    if (err instanceof GiraffeError) throw err;
    throw new GiraffeError(
      'GIRAFFE_ERR_MODEL_LOAD_FAILED',
      `${tokenizerDir}: ${(err as Error).message}`,
      { model: directory.dir },
      { cause: err },
    );
  }
}

/**
 * Opens a Stable Diffusion ONNX export. Session creation blocks the calling
 * thread for as long as onnxruntime takes to load the graph, so call this
 * inside the inference thread, not on a thread that serves requests.
 */
export async function loadModel(modelDir: string, settings: SessionSettings = {}): Promise<LoadedModel> {
  const directory = readModelDirectory(modelDir);
  const tokenizer = loadTokenizer(directory);
  const { second } = directory;
  const tokenizer2 = second ? loadTokenizer(directory, second.tokenizerDir) : undefined;
  const opened: OnnxComponent[] = [];
  try {
    for (const name of ['text_encoder', 'unet', 'vae_decoder'] as const) {
      opened.push(await OnnxComponent.create(directory.onnxFiles[name], `${name}/model.onnx`, settings));
    }
    const [textEncoder, unet, vaeDecoder] = opened;
    let textEncoder2: OnnxComponent | undefined;
    if (second) {
      textEncoder2 = await OnnxComponent.create(second.textEncoder, 'text_encoder_2/model.onnx', settings);
      opened.push(textEncoder2);
    }
    let vaeEncoder: OnnxComponent | undefined;
    if (directory.vaeEncoderFile !== undefined) {
      vaeEncoder = await OnnxComponent.create(directory.vaeEncoderFile, 'vae_encoder/model.onnx', settings);
      opened.push(vaeEncoder);
    }
    const contract = checkModelContract(textEncoder, unet, vaeDecoder, vaeEncoder, textEncoder2);
    return {
      directory,
      contract,
      tokenizer,
      textEncoder,
      unet,
      vaeDecoder,
      ...(tokenizer2 && textEncoder2 ? { tokenizer2, textEncoder2 } : {}),
      ...(vaeEncoder ? { vaeEncoder } : {}),
      device: settings.device ?? 'cpu',
      async release() {
        await Promise.all(opened.map((c) => c.release()));
      },
    };
  } catch (err) {
    await Promise.allSettled(opened.map((c) => c.release()));
    throw err;
  }
}
