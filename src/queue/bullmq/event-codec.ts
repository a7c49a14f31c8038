import type { JobEvent, StepLatents } from '../../jobs';

/** Latents as they travel in JSON: float32 little-endian bytes in base64. */
interface WireLatents {
  readonly shape: StepLatents['shape'];
  readonly float32_base64: string;
}

export function encodeEvent(event: JobEvent): string {
  if (event.type !== 'progress' || !event.latents) return JSON.stringify(event);
  const { data, shape } = event.latents;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const latents: WireLatents = { shape, float32_base64: bytes.toString('base64') };
  return JSON.stringify({ ...event, latents });
}

/** Undefined for a message that is not a job event (never throws: it runs in a subscriber). */
export function decodeEvent(message: string): JobEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const raw = parsed as { type?: unknown; job_id?: unknown; latents?: unknown };
  if (typeof raw.type !== 'string' || typeof raw.job_id !== 'string') return undefined;
  const event = parsed as JobEvent;
  if (event.type !== 'progress' || raw.latents === undefined) return event;
  const wire = raw.latents as WireLatents;
  const bytes = Buffer.from(wire.float32_base64, 'base64');
  // Copied into a fresh buffer: a Float32Array needs 4-byte alignment, a Buffer slice may lack it.
  const data = new Float32Array(bytes.byteLength / 4);
  Buffer.from(data.buffer).set(bytes);
  return { ...event, latents: { shape: wire.shape, data } };
}
