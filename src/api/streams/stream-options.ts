import { z } from 'zod';
import { parsePreviewCadence, previewFormats } from '../../jobs/stream-protocol';
import type { FeedOptions } from './job-feed';

/** What a stream client may choose about previews (query parameters, or fields of a subscribe message). */
export const previewOptionFields = {
  previews: z
    .string()
    .max(32)
    .refine((s) => parsePreviewCadence(s) !== undefined, {
      message: 'must be none, every:N (1–10000 steps) or interval:MS (0–600000 ms)',
    })
    .default('every:1')
    .describe('How often previews come: `none`, `every:N` steps or at most one per `interval:MS`.'),
  preview_format: z.enum(previewFormats).default('jpeg').describe('Image format of previews.'),
  preview_size: z.coerce
    .number()
    .int()
    .min(16)
    .max(2048)
    .default(256)
    .describe("Longest side of previews in pixels (never beyond the job's image)."),
};

export const seqSchema = z.coerce
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);

export function feedOptions(
  fields: { previews: string; preview_format: FeedOptions['format']; preview_size: number },
  after: number | undefined,
): FeedOptions {
  return {
    cadence: parsePreviewCadence(fields.previews)!,
    format: fields.preview_format,
    size: fields.preview_size,
    ...(after === undefined ? {} : { after }),
  };
}
