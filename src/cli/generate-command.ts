import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config';
import { GiraffeError } from '../errors';
import { loadPipeline, schedulerNames, type GenerateRequest } from '../pipeline';
import { remoteGenerate } from './remote-generate';
import { resolveModel } from './resolve-model';
import { StepProgressBar } from './step-progress-bar';
import { outputPaths } from './output-paths';

export const generateUsage = `Usage: giraffe generate "PROMPT" [options]

Options:
  --out FILE          where to write the image (default: giraffe-<seed>.<format>);
                      with --num-images N, files get -1, -2 … before the extension
  --model NAME|DIR    a model directory, a name under MODELS_DIR, or "demo" (default: DEFAULT_MODEL)
  --steps N           denoising steps (default 20)
  --scheduler NAME    ${schedulerNames.join(' | ')} (default: the model's own)
  --karras            Karras sigmas (euler, euler_a, dpmpp_2m)
  --seed N            0 … 4294967295 (default: random, printed)
  --guidance X        classifier-free guidance scale (default 7.5)
  --width N --height N   multiples of 8 (default: the model's size)
  --negative TEXT     negative prompt
  --num-images N      images from one seed (default 1)
  --format FMT        png | jpeg | webp (default: from --out's extension, else png)
  --image FILE        image-to-image: start from this picture (PNG, JPEG or WebP)
  --mask FILE         inpainting (with --image): white = repaint, black = keep
  --strength X        0 < X ≤ 1, how much of the image is repainted (default 0.8, 1 with --mask)
  --mask-blur N       blur the mask's edge by N pixels (0 … 64, default 0)
  --resize MODE       crop | fit | stretch: how the image meets --width/--height (default crop)
  --device DEV        cpu | webgpu | cuda:N (default DEVICE, cpu)
  --server URL        run it on a giraffe service instead (e.g. http://localhost:8080),
                      following its progress stream; --model is then a model id
  --api-key KEY       the service's API key, with --server
`;

function num(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', `${flag}: "${value}" is not a number`, {
      field: flag,
    });
  return n;
}

function formatFromPath(file: string | undefined): 'png' | 'jpeg' | 'webp' | undefined {
  const ext = file ? path.extname(file).toLowerCase() : '';
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  return undefined;
}

/** The bytes of an input image file; a missing file is a usage error naming the flag. */
async function readInput(file: string, flag: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      `${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { field: flag },
    );
  }
}

/** `giraffe generate`: one generation on this machine, with a progress bar. */
export async function generateCommand(argv: string[], config: Config): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      model: { type: 'string', short: 'm' },
      steps: { type: 'string' },
      scheduler: { type: 'string' },
      karras: { type: 'boolean' },
      seed: { type: 'string' },
      guidance: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      negative: { type: 'string' },
      'num-images': { type: 'string' },
      format: { type: 'string' },
      image: { type: 'string' },
      mask: { type: 'string' },
      strength: { type: 'string' },
      'mask-blur': { type: 'string' },
      resize: { type: 'string' },
      device: { type: 'string' },
      server: { type: 'string' },
      'api-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(generateUsage);
    return 0;
  }
  const prompt = positionals.join(' ');
  if (!prompt) {
    process.stderr.write(`giraffe generate: a prompt is required\n\n${generateUsage}`);
    return 2;
  }
  const format = values.format ?? formatFromPath(values.out) ?? 'png';
  const request: GenerateRequest = {
    prompt,
    negative_prompt: values.negative,
    steps: num(values.steps, '--steps'),
    scheduler: values.scheduler as GenerateRequest['scheduler'],
    karras: values.karras,
    seed: num(values.seed, '--seed'),
    guidance_scale: num(values.guidance, '--guidance'),
    width: num(values.width, '--width'),
    height: num(values.height, '--height'),
    num_images: num(values['num-images'], '--num-images'),
    output_format: format as GenerateRequest['output_format'],
    strength: num(values.strength, '--strength'),
    mask_blur: num(values['mask-blur'], '--mask-blur'),
    resize_mode: values.resize as GenerateRequest['resize_mode'],
  };
  if (values.mask !== undefined && values.image === undefined) {
    throw new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', '--mask: needs --image (the picture it masks)', {
      field: '--mask',
    });
  }
  const images = {
    ...(values.image !== undefined ? { image: await readInput(values.image, '--image') } : {}),
    ...(values.mask !== undefined ? { mask_image: await readInput(values.mask, '--mask') } : {}),
  };
  for (const key of Object.keys(request) as (keyof GenerateRequest)[])
    if (request[key] === undefined) delete request[key];

  if (values.server) {
    return remoteGenerate({
      server: values.server,
      apiKey: values['api-key'],
      // Images go up as multipart file parts (the client switches when a field holds bytes).
      body: { ...request, ...images, ...(values.model ? { model: values.model } : {}) },
      out: values.out,
    });
  }
  const modelDir = (await resolveModel(values.model, config)).dir;
  process.stderr.write(`loading ${modelDir}\n`);
  const pipeline = await loadPipeline(modelDir, {
    device: values.device ?? config.DEVICE,
    intraOpThreads: config.ORT_INTRA_OP_THREADS,
  });
  try {
    const resolved = pipeline.resolve({ ...request, ...images });
    const bar = new StepProgressBar();
    const interrupt = new AbortController();
    const onSigint = (): void => interrupt.abort();
    process.once('SIGINT', onSigint);
    let result;
    try {
      // The resolved request names the images by sha256; the bytes travel beside it.
      result = await pipeline.generate(
        // A resolved request is a valid request (its size lists are read-only; the schema's are not).
        { ...resolved, ...images } as GenerateRequest,
        {
          signal: interrupt.signal,
          onStep: ({ step, steps }) => bar.update(step, steps),
        },
      );
    } finally {
      process.off('SIGINT', onSigint);
      bar.stop();
    }
    const files = outputPaths(values.out, result.seed, resolved.output_format, result.images.length);
    for (let i = 0; i < files.length; i++) {
      await fs.mkdir(path.dirname(path.resolve(files[i])), { recursive: true });
      await fs.writeFile(files[i], result.images[i]);
    }
    const t = result.timings;
    process.stdout.write(
      `${files.join('\n')}\nseed ${result.seed} · ${result.width}x${result.height} · ${resolved.scheduler}${resolved.karras ? ' (karras)' : ''} · ${resolved.steps} steps${t.unet_calls === resolved.steps ? '' : ` (${t.unet_calls} U-Net calls)`}\n` +
        `time ${(t.total_ms / 1000).toFixed(2)} s (text ${t.text_encoder_ms.toFixed(0)} ms, denoise ${t.denoise_ms.toFixed(0)} ms, vae ${t.vae_decoder_ms.toFixed(0)} ms, encode ${t.image_encode_ms.toFixed(0)} ms)\n`,
    );
    return 0;
  } finally {
    await pipeline.close();
  }
}
