import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeDirectoryAtomically } from './atomic-dir';
import {
  buildDemoTextEncoder,
  buildDemoUnet,
  buildDemoVaeDecoder,
  buildDemoVaeEncoder,
  DEMO_HIDDEN_SIZE,
  demoWeights,
} from './demo-graphs';
import { writeDemoTokenizer } from './demo-vocabulary';
import { modelIndex, sd15SchedulerConfig, unetConfig, vaeConfig, writeJson } from './diffusers-layout';

/**
 * Version of what {@link writeDemoModel} writes. Bump it whenever the
 * generator's output changes, so existing data directories regenerate.
 */
export const DEMO_MODEL_VERSION = 4;

/** Name of the marker file that says which generator wrote a directory. */
export const DEMO_MARKER_FILE = 'giraffe.json';

const DEMO_FORMAT = 'giraffe-demo';

async function fillDemoModel(dir: string, options: DemoModelOptions = {}): Promise<void> {
  const vocabulary = await writeDemoTokenizer(path.join(dir, 'tokenizer'));
  const weights = demoWeights(vocabulary.size, vocabulary.startOfTextId, vocabulary.endOfTextId);
  await writeJson(path.join(dir, 'model_index.json'), modelIndex());
  await writeJson(path.join(dir, 'scheduler', 'scheduler_config.json'), sd15SchedulerConfig());
  const inpaint = options.variant === 'inpaint';
  await writeJson(path.join(dir, 'unet', 'config.json'), unetConfig(64, DEMO_HIDDEN_SIZE, inpaint ? 9 : 4));
  await writeJson(path.join(dir, 'vae_decoder', 'config.json'), vaeConfig(512, []));
  await writeJson(path.join(dir, 'vae_encoder', 'config.json'), vaeConfig(512, []));
  await fsp.mkdir(path.join(dir, 'text_encoder'), { recursive: true });
  await buildDemoTextEncoder(weights).save(path.join(dir, 'text_encoder', 'model.onnx'));
  await buildDemoUnet(weights, { exact: options.exact, inpaint }).save(path.join(dir, 'unet', 'model.onnx'));
  await buildDemoVaeDecoder().save(path.join(dir, 'vae_decoder', 'model.onnx'));
  await buildDemoVaeEncoder().save(path.join(dir, 'vae_encoder', 'model.onnx'));
  // The marker goes last: a directory with a current marker is complete.
  await writeJson(path.join(dir, DEMO_MARKER_FILE), {
    format: DEMO_FORMAT,
    version: DEMO_MODEL_VERSION,
    ...(options.exact ? { exact: true } : {}),
    ...(inpaint ? { variant: 'inpaint' } : {}),
    description: inpaint
      ? 'giraffe demo inpainting model: a 9-channel U-Net that keeps the masked image outside the mask and paints a prompt-dependent picture inside'
      : options.exact
        ? 'giraffe demo model, exact variant: an exact denoiser for a prompt-dependent picture (a scheduler test oracle)'
        : 'giraffe built-in demo model: a denoiser that grows exact as noise falls, for a prompt-dependent picture',
  });
}

/** True when `dir` holds a demo model (of `variant`) written by this version of the generator. */
async function isCurrentDemo(dir: string, variant: DemoVariant = 'demo'): Promise<boolean> {
  try {
    const marker = JSON.parse(await fsp.readFile(path.join(dir, DEMO_MARKER_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    return (
      marker.format === DEMO_FORMAT &&
      marker.version === DEMO_MODEL_VERSION &&
      (marker.variant ?? 'demo') === variant
    );
  } catch {
    return false;
  }
}

/**
 * Writes the built-in demo model to `dir` in the diffusers ONNX layout
 * (`model_index.json`, `scheduler/`, `tokenizer/`, `text_encoder/`, `unet/`,
 * `vae_decoder/` and a `giraffe.json` marker). The files are byte-identical
 * on every run. The directory is filled beside `dir` and renamed into place,
 * replacing any existing `dir`.
 */
export async function writeDemoModel(dir: string, options: DemoModelOptions = {}): Promise<void> {
  await writeDirectoryAtomically(path.resolve(dir), (into) => fillDemoModel(into, options));
}

/** `demo`: the text-to-image demo (with a vae_encoder for image-to-image); `inpaint`: its 9-channel inpainting twin. */
export type DemoVariant = 'demo' | 'inpaint';

/** Model id (directory name under `<dataDir>/models`) of each demo variant. */
export const DEMO_MODEL_IDS: Readonly<Record<DemoVariant, string>> = {
  demo: 'demo',
  inpaint: 'demo-inpaint',
};

export interface DemoModelOptions {
  /** Which demo to write. @defaultValue `'demo'` */
  readonly variant?: DemoVariant;
  /**
   * An exact denoiser at every σ (the scheduler tests' oracle: every scheduler
   * lands on the target). Default: the built-in demo, whose predicted x₀
   * starts noisy like a real model's, so its previews go from noise to picture.
   */
  readonly exact?: boolean;
}

/**
 * Returns `<dataDir>/models/demo` (or `models/demo-inpaint` for the
 * inpainting variant), generating the model there first when it is missing
 * or was written by another generator version. Concurrent callers (threads
 * or processes) may race: each writes its own copy and the first complete one stays.
 */
export async function ensureDemoModel(
  dataDir: string,
  options: { readonly variant?: DemoVariant } = {},
): Promise<string> {
  const variant = options.variant ?? 'demo';
  const dir = path.join(path.resolve(dataDir), 'models', DEMO_MODEL_IDS[variant]);
  if (await isCurrentDemo(dir, variant)) return dir;
  await writeDirectoryAtomically(
    dir,
    (into) => fillDemoModel(into, { variant }),
    (d) => isCurrentDemo(d, variant),
  );
  return dir;
}
