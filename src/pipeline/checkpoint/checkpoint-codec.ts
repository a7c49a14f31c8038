import { GiraffeError } from '../../errors';
import type { SchedulerState } from '../schedulers';
import type { DenoiseCheckpoint } from './denoise-checkpoint';

// "GCKP", then the format version.
const MAGIC = 0x50_4b_43_47;
const VERSION = 1;
const PREFIX_BYTES = 12;

type Blob = Float32Array | Uint32Array;
interface BlobRef {
  readonly $blob: number;
  readonly type: 'f32' | 'u32';
  readonly length: number;
}
type StateValue = number | null | BlobRef | BlobRef[];

interface Header {
  readonly key: string;
  readonly step: number;
  readonly steps: number;
  readonly latents: BlobRef;
  readonly scheduler: Record<string, StateValue>;
  readonly rng: { key: BlobRef; pos: number; hasGauss: boolean; cachedGaussian: number };
}

/**
 * A checkpoint as one buffer: a 12-byte prefix (magic, version, header
 * length), a JSON header, then the arrays' raw little-endian bytes, each
 * 4-byte aligned. Binary rather than JSON numbers: an SD 1.5 checkpoint holds
 * up to five 64 K-float arrays (PNDM), written every few seconds.
 */
export function encodeCheckpoint(cp: DenoiseCheckpoint): Buffer {
  const blobs: Blob[] = [];
  const ref = (data: Blob): BlobRef => {
    blobs.push(data);
    return {
      $blob: blobs.length - 1,
      type: data instanceof Float32Array ? 'f32' : 'u32',
      length: data.length,
    };
  };
  const scheduler: Record<string, StateValue> = {};
  for (const [k, v] of Object.entries(cp.scheduler)) {
    scheduler[k] = v === null || typeof v === 'number' ? v : v instanceof Float32Array ? ref(v) : v.map(ref);
  }
  const header: Header = {
    key: cp.key,
    step: cp.step,
    steps: cp.steps,
    latents: ref(cp.latents),
    scheduler,
    rng: {
      key: ref(cp.rng.key),
      pos: cp.rng.pos,
      hasGauss: cp.rng.hasGauss,
      cachedGaussian: cp.rng.cachedGaussian,
    },
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headerBytes = json.length + ((4 - (json.length % 4)) % 4);
  const total = PREFIX_BYTES + headerBytes + blobs.reduce((n, b) => n + b.byteLength, 0);
  const out = Buffer.alloc(total);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(VERSION, 4);
  out.writeUInt32LE(json.length, 8);
  json.copy(out, PREFIX_BYTES);
  let offset = PREFIX_BYTES + headerBytes;
  for (const b of blobs) {
    // Typed arrays are little-endian on every platform Node.js runs on.
    Buffer.from(b.buffer, b.byteOffset, b.byteLength).copy(out, offset);
    offset += b.byteLength;
  }
  return out;
}

function corrupt(why: string): GiraffeError {
  return new GiraffeError('GIRAFFE_ERR_CHECKPOINT_INVALID', `the checkpoint cannot be read: ${why}`);
}

/** Reads {@link encodeCheckpoint}'s format; anything else fails with GIRAFFE_ERR_CHECKPOINT_INVALID. */
export function decodeCheckpoint(data: Uint8Array): DenoiseCheckpoint {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < PREFIX_BYTES || buf.readUInt32LE(0) !== MAGIC) throw corrupt('not a giraffe checkpoint');
  if (buf.readUInt32LE(4) !== VERSION) throw corrupt(`format version ${buf.readUInt32LE(4)}`);
  const jsonBytes = buf.readUInt32LE(8);
  if (PREFIX_BYTES + jsonBytes > buf.length) throw corrupt('truncated header');
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + jsonBytes)) as Header;
  } catch {
    throw corrupt('malformed header');
  }
  // Blob offsets follow from the blobs' order and lengths.
  const refs: BlobRef[] = [];
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (v !== null && typeof v === 'object' && '$blob' in v) refs.push(v as BlobRef);
  };
  collect(header.latents);
  Object.values(header.scheduler ?? {}).forEach(collect);
  collect(header.rng?.key);
  refs.sort((a, b) => a.$blob - b.$blob);
  const views = new Map<number, Blob>();
  let offset = PREFIX_BYTES + jsonBytes + ((4 - (jsonBytes % 4)) % 4);
  for (const r of refs) {
    const bytes = r.length * 4;
    if (!Number.isInteger(r.length) || r.length < 0 || offset + bytes > buf.length)
      throw corrupt('truncated data');
    // Copied out: the result must not alias a buffer the caller may reuse.
    const copy = new Uint8Array(buf.subarray(offset, offset + bytes)).buffer;
    views.set(r.$blob, r.type === 'u32' ? new Uint32Array(copy) : new Float32Array(copy));
    offset += bytes;
  }
  const blob = (r: BlobRef): Blob => {
    const v = views.get(r?.$blob);
    if (v === undefined) throw corrupt('missing data');
    return v;
  };
  const scheduler: Record<string, SchedulerState[string]> = {};
  for (const [k, v] of Object.entries(header.scheduler ?? {})) {
    scheduler[k] =
      v === null || typeof v === 'number'
        ? v
        : Array.isArray(v)
          ? v.map((r) => blob(r) as Float32Array)
          : (blob(v) as Float32Array);
  }
  const { rng } = header;
  if (typeof header.key !== 'string' || !Number.isInteger(header.step) || !rng)
    throw corrupt('malformed header');
  return {
    key: header.key,
    step: header.step,
    steps: header.steps,
    latents: blob(header.latents) as Float32Array,
    scheduler,
    rng: {
      key: blob(rng.key) as Uint32Array,
      pos: rng.pos,
      hasGauss: rng.hasGauss,
      cachedGaussian: rng.cachedGaussian,
    },
  };
}
