/** Generation settings written into an image as AUTOMATIC1111 "infotext". */
export interface A1111Parameters {
  prompt: string;
  /** Omitted from the text when null, undefined or empty. */
  negative_prompt?: string | null;
  steps: number;
  /** Our scheduler name (`euler`, `euler_a`, `ddim`, `pndm`, `dpmpp_2m`, `lcm`); others are written as given. */
  scheduler: string;
  /** Karras sigmas; written as `Schedule type: Karras`. */
  karras?: boolean;
  guidance_scale: number;
  seed: number;
  width: number;
  height: number;
  /** Model name, written as `Model: ...`. */
  model?: string;
  /** Short model hash, written as `Model hash: ...`. */
  modelHash?: string;
  /** Image requests: written as `Denoising strength: 0.75`, as AUTOMATIC1111 does. */
  strength?: number;
  /** Inpainting: written as `Mask blur: 4`. */
  mask_blur?: number;
  /** Image requests: written as AUTOMATIC1111 names the modes (`Resize mode: Crop and resize`). */
  resize_mode?: string;
  /** sha256 of the input image / mask, written as `Init image hash` / `Mask image hash` so the inputs can be found again. */
  image_sha256?: string;
  mask_image_sha256?: string;
}

/**
 * What {@link parseA1111Parameters} recovers. Numeric fields are absent when
 * the text lacks them (infotext from other tools); parameters we do not model
 * are kept verbatim in `extra`.
 */
export interface ParsedA1111Parameters {
  prompt: string;
  negative_prompt: string | null;
  steps?: number;
  scheduler?: string;
  karras: boolean;
  guidance_scale?: number;
  seed?: number;
  width?: number;
  height?: number;
  model?: string;
  modelHash?: string;
  strength?: number;
  mask_blur?: number;
  resize_mode?: string;
  image_sha256?: string;
  mask_image_sha256?: string;
  /** Other `Key: value` pairs of the parameters line, unquoted. */
  extra: Record<string, string>;
}

/** Our scheduler names → AUTOMATIC1111's sampler names. */
const SAMPLER_NAMES: Readonly<Record<string, string>> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  ddim: 'DDIM',
  pndm: 'PLMS',
  dpmpp_2m: 'DPM++ 2M',
  lcm: 'LCM',
};
const SCHEDULER_BY_SAMPLER: ReadonlyMap<string, string> = new Map(
  Object.entries(SAMPLER_NAMES).map(([ours, theirs]) => [theirs, ours]),
);

/** Our resize modes → AUTOMATIC1111's names for them. */
const RESIZE_MODE_NAMES: Readonly<Record<string, string>> = {
  stretch: 'Just resize',
  crop: 'Crop and resize',
  fit: 'Resize and fill',
};
const RESIZE_MODE_BY_NAME: ReadonlyMap<string, string> = new Map(
  Object.entries(RESIZE_MODE_NAMES).map(([ours, theirs]) => [theirs, ours]),
);

const NEGATIVE_PREFIX = 'Negative prompt:';

/** AUTOMATIC1111 JSON-quotes values that would break the `key: value, ...` line. */
function quote(value: string): string {
  return /[,\n:]/.test(value) ? JSON.stringify(value) : value;
}

/**
 * Formats settings the way AUTOMATIC1111 writes its `parameters` text: the
 * prompt, then `Negative prompt: ...` when there is one, then
 * `Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 512x512, Model hash: ..., Model: ...`.
 */
export function formatA1111Parameters(p: A1111Parameters): string {
  const params: Array<[string, string | number]> = [
    ['Steps', p.steps],
    ['Sampler', SAMPLER_NAMES[p.scheduler] ?? p.scheduler],
  ];
  if (p.karras) params.push(['Schedule type', 'Karras']);
  params.push(['CFG scale', p.guidance_scale], ['Seed', p.seed], ['Size', `${p.width}x${p.height}`]);
  if (p.modelHash) params.push(['Model hash', p.modelHash]);
  if (p.model) params.push(['Model', p.model]);
  if (p.strength !== undefined) params.push(['Denoising strength', p.strength]);
  if (p.mask_blur !== undefined) params.push(['Mask blur', p.mask_blur]);
  if (p.resize_mode !== undefined)
    params.push(['Resize mode', RESIZE_MODE_NAMES[p.resize_mode] ?? p.resize_mode]);
  if (p.image_sha256) params.push(['Init image hash', p.image_sha256]);
  if (p.mask_image_sha256) params.push(['Mask image hash', p.mask_image_sha256]);

  const lines = [p.prompt];
  if (p.negative_prompt) lines.push(`${NEGATIVE_PREFIX} ${p.negative_prompt}`);
  lines.push(params.map(([key, value]) => `${key}: ${quote(String(value))}`).join(', '));
  return lines.join('\n');
}

// One `Key: value` pair of the parameters line; the value is JSON-quoted or runs to the next comma.
const PARAM_RE = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

function parseParamLine(line: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const match of line.matchAll(PARAM_RE)) {
    let value = match[2].trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      try {
        value = String(JSON.parse(value));
      } catch {
        // Not valid JSON after all: keep it as written.
      }
    }
    pairs.push([match[1], value]);
  }
  return pairs;
}

function toNumber(value: string): number | undefined {
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

/**
 * Parses AUTOMATIC1111 infotext (as written by {@link formatA1111Parameters}
 * or by AUTOMATIC1111 itself). The last line is the parameters line when it
 * holds at least three `Key: value` pairs; lines from one starting with
 * `Negative prompt:` on form the negative prompt. Older texts that put the
 * schedule in the sampler name ("DPM++ 2M Karras") are understood too.
 */
export function parseA1111Parameters(text: string): ParsedA1111Parameters {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let pairs: Array<[string, string]> = [];
  if (lines.length > 0) {
    const last = parseParamLine(lines[lines.length - 1]);
    if (last.length >= 3) {
      pairs = last;
      lines.pop();
    }
  }

  const promptLines: string[] = [];
  let negativeLines: string[] | null = null;
  for (const line of lines) {
    if (negativeLines === null && line.startsWith(NEGATIVE_PREFIX)) {
      negativeLines = [line.slice(NEGATIVE_PREFIX.length).trimStart()];
    } else if (negativeLines !== null) {
      negativeLines.push(line);
    } else {
      promptLines.push(line);
    }
  }

  const result: ParsedA1111Parameters = {
    prompt: promptLines.join('\n'),
    negative_prompt: negativeLines === null ? null : negativeLines.join('\n'),
    karras: false,
    extra: {},
  };
  for (const [key, value] of pairs) {
    switch (key) {
      case 'Steps':
        result.steps = toNumber(value);
        break;
      case 'Sampler': {
        let sampler = value;
        if (sampler.endsWith(' Karras')) {
          sampler = sampler.slice(0, -' Karras'.length);
          result.karras = true;
        }
        result.scheduler = SCHEDULER_BY_SAMPLER.get(sampler) ?? sampler;
        break;
      }
      case 'Schedule type':
        if (value === 'Karras') result.karras = true;
        else result.extra[key] = value;
        break;
      case 'CFG scale':
        result.guidance_scale = toNumber(value);
        break;
      case 'Seed':
        result.seed = toNumber(value);
        break;
      case 'Size': {
        const size = /^(\d+)x(\d+)$/.exec(value);
        if (size) {
          result.width = Number(size[1]);
          result.height = Number(size[2]);
        } else {
          result.extra[key] = value;
        }
        break;
      }
      case 'Model':
        result.model = value;
        break;
      case 'Model hash':
        result.modelHash = value;
        break;
      case 'Denoising strength':
        result.strength = toNumber(value);
        break;
      case 'Mask blur':
        result.mask_blur = toNumber(value);
        break;
      case 'Resize mode':
        result.resize_mode = RESIZE_MODE_BY_NAME.get(value) ?? value;
        break;
      case 'Init image hash':
        result.image_sha256 = value;
        break;
      case 'Mask image hash':
        result.mask_image_sha256 = value;
        break;
      default:
        result.extra[key] = value;
    }
  }
  return result;
}
