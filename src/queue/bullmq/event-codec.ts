import type { JobEvent, JobMessage, JobPreview } from '../../jobs';

/** A preview as it travels in JSON: the RGB bytes in base64. */
type WirePreview = Omit<JobPreview, 'rgb'> & { readonly rgb_base64: string };

export function encodePreview(preview: JobPreview): string {
  const { rgb, ...rest } = preview;
  return JSON.stringify({ ...rest, rgb_base64: rgb.toString('base64') } satisfies WirePreview);
}

/**
 * A job event or preview from a channel message or a stream entry; undefined
 * for anything else (never throws: it runs in a subscriber).
 */
export function decodeMessage(message: string): JobMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const raw = parsed as { type?: unknown; job_id?: unknown; seq?: unknown; rgb_base64?: unknown };
  if (typeof raw.type !== 'string' || typeof raw.job_id !== 'string') return undefined;
  if (raw.type === 'preview') {
    if (typeof raw.rgb_base64 !== 'string') return undefined;
    const { rgb_base64, ...rest } = parsed as WirePreview;
    return { ...rest, rgb: Buffer.from(rgb_base64, 'base64') };
  }
  if (typeof raw.seq !== 'number') return undefined;
  return parsed as JobEvent;
}
