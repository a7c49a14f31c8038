import * as zlib from 'node:zlib';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { GiraffeError } from '../../../errors';
import { z } from 'zod';
import { parseA1111Parameters } from '../../../pipeline/image/a1111-parameters';
import { readPngTextChunks } from '../../../pipeline/image/png-text-chunk';
import { decodeBase64Image } from './base64-image';
import { a1111SamplerName } from './samplers';

/** Body limit of a route that takes `images` base64 files of at most MAX_INPUT_IMAGE_BYTES each. */
export function imageBodyLimit(maxImageBytes: number, images: number): number {
  return images * Math.ceil((maxImageBytes * 4) / 3) + 128 * 1024;
}

const pngInfoResponseSchema = z
  .object({
    info: z.string().describe('The `parameters` text ("" when the image has none).'),
    items: z.record(z.string(), z.string()).describe("The image's other text chunks."),
    parameters: z
      .record(z.string(), z.union([z.string(), z.number()]))
      .describe(
        'The infotext parsed as A1111 does: `Prompt`, `Negative prompt`, `Steps`, `Sampler`, `Size-1` …',
      ),
  })
  .meta({ id: 'A1111PngInfo', description: "AUTOMATIC1111's PNGInfoResponse." });

/**
 * A1111's parsed infotext (`parse_generation_parameters`): the prompt, the
 * negative prompt, then each `Key: value` of the last line, with `Size`
 * split into `Size-1` and `Size-2`. Values stay text, as A1111's do.
 */
function parsedParameters(text: string): Record<string, string> {
  const p = parseA1111Parameters(text);
  const out: Record<string, string> = { Prompt: p.prompt, 'Negative prompt': p.negative_prompt ?? '' };
  if (p.steps !== undefined) out.Steps = String(p.steps);
  if (p.scheduler !== undefined) out.Sampler = a1111SamplerName(p.scheduler);
  if (p.karras) out['Schedule type'] = 'Karras';
  if (p.guidance_scale !== undefined) out['CFG scale'] = String(p.guidance_scale);
  if (p.seed !== undefined) out.Seed = String(p.seed);
  if (p.width !== undefined && p.height !== undefined) {
    out['Size-1'] = String(p.width);
    out['Size-2'] = String(p.height);
  }
  if (p.modelHash !== undefined) out['Model hash'] = p.modelHash;
  if (p.model !== undefined) out.Model = p.model;
  return { ...out, ...p.extra };
}

/** Largest text a compressed chunk may inflate to: infotext is a few kilobytes. */
const MAX_TEXT_BYTES = 1024 * 1024;

/**
 * Checks that no compressed text chunk (`zTXt`, compressed `iTXt`) inflates
 * beyond {@link MAX_TEXT_BYTES} before the chunks are read: deflate expands
 * up to ~1000×, so a 30 MB upload could otherwise ask for 30 GB of memory.
 */
function assertNoTextBomb(png: Buffer): void {
  let at = 8;
  while (at + 8 <= png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, Math.min(png.length, at + 8 + length));
    at += 12 + length;
    if (type !== 'zTXt' && type !== 'iTXt') continue;
    const keyEnd = data.indexOf(0);
    if (keyEnd < 0) continue;
    let body: Buffer | undefined;
    if (type === 'zTXt') body = data.subarray(keyEnd + 2);
    else if (data[keyEnd + 1] === 1) {
      const languageEnd = data.indexOf(0, keyEnd + 3);
      const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
      if (translatedEnd >= 0) body = data.subarray(translatedEnd + 1);
    }
    if (!body) continue;
    try {
      zlib.inflateSync(body, { maxOutputLength: MAX_TEXT_BYTES });
    } catch {
      throw new GiraffeError(
        'GIRAFFE_ERR_SDAPI_IMAGE_INVALID',
        `image: a compressed ${type} chunk is corrupt or inflates beyond ${MAX_TEXT_BYTES} bytes`,
        { field: 'image' },
      );
    }
  }
}

function readTextChunks(png: Buffer): Record<string, string> {
  assertNoTextBomb(png);
  try {
    return readPngTextChunks(png);
  } catch (err) {
    const why = err instanceof Error ? err.message : 'unreadable';
    throw new GiraffeError('GIRAFFE_ERR_SDAPI_IMAGE_INVALID', `image: not a readable PNG (${why})`, {
      field: 'image',
    });
  }
}

/** `POST /sdapi/v1/png-info`: what an image says about how it was made (ours and A1111's). */
export const a1111PngInfoRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/png-info',
    {
      bodyLimit: imageBodyLimit(app.giraffe.config.MAX_INPUT_IMAGE_BYTES, 1),
      schema: {
        tags: ['a1111'],
        operationId: 'a1111PngInfo',
        summary: "Read an image's generation parameters (A1111)",
        description:
          'Reads the `parameters` text chunk that giraffe and A1111 write into PNGs. JPEG and WebP files are ' +
          'accepted and answer with empty `info` (their EXIF comments are not read).',
        body: z.object({
          image: z.string().describe('Base64 or a `data:` URL of a PNG, JPEG or WebP file.'),
        }),
        response: {
          200: {
            description: 'The parameters.',
            content: { 'application/json': { schema: pngInfoResponseSchema } },
          },
        },
      },
    },
    async (request) => {
      const { bytes, kind } = decodeBase64Image(request.body.image, 'image');
      const chunks = kind === 'png' ? readTextChunks(bytes) : {};
      const { parameters: info = '', ...items } = chunks;
      return { info, items, parameters: info ? parsedParameters(info) : {} };
    },
  );
};
