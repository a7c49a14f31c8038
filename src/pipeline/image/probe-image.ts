/**
 * A header-only look at an input image: its format, declared size and frame
 * count, read synchronously from the first bytes without decoding a pixel.
 * The API and `resolveRequest` use it to refuse decompression bombs (a tiny
 * file declaring a huge canvas) and non-images before anything is decoded;
 * sharp's `limitInputPixels` guards the decode itself a second time.
 */
export type ProbedFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export interface ImageProbe {
  readonly format: ProbedFormat;
  readonly width: number;
  readonly height: number;
  /** Frames (APNG `acTL`, animated WebP `ANMF` chunks); 1 for still images, GIF counts are not read here. */
  readonly pages: number;
  /** A JPEG's EXIF orientation (1–8) when it has one; 5–8 swap width and height once applied. */
  readonly orientation?: number;
}

/** The size an image shows at once its EXIF orientation is applied (as decoding does). */
export function orientedSize(probe: ImageProbe): { width: number; height: number } {
  return (probe.orientation ?? 1) >= 5
    ? { width: probe.height, height: probe.width }
    : { width: probe.width, height: probe.height };
}

/** The header of `bytes`, or undefined when they are not a PNG, JPEG, WebP or GIF image this probe can read. */
export function probeImage(bytes: Uint8Array): ImageProbe | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a)
      return probePng(b);
    if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return probeJpeg(b);
    if (b.length >= 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP')
      return probeWebp(b);
    if (b.length >= 10 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6))) {
      return { format: 'gif', width: b.readUInt16LE(6), height: b.readUInt16LE(8), pages: 1 };
    }
  } catch {
    // A truncated header reads past the end: not an image we can use.
  }
  return undefined;
}

function probePng(b: Buffer): ImageProbe | undefined {
  if (b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  let pages = 1;
  // acTL must come before the first IDAT; stop there.
  for (let at = 8; at + 8 <= b.length;) {
    const length = b.readUInt32BE(at);
    const type = b.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'acTL' && at + 12 <= b.length) pages = Math.max(1, b.readUInt32BE(at + 8));
    at += 12 + length;
  }
  return { format: 'png', width, height, pages };
}

/** Start-of-frame markers (baseline, progressive, lossless …), not DHT (C4), JPG (C8) or DAC (CC). */
const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The orientation tag (0x0112) of an APP1 Exif segment's first IFD, or undefined. */
function exifOrientation(b: Buffer, start: number, end: number): number | undefined {
  if (end - start < 14 || b.toString('latin1', start, start + 6) !== 'Exif\0\0') return undefined;
  const tiff = start + 6;
  const little = b.toString('latin1', tiff, tiff + 2) === 'II';
  const u16 = (at: number): number => (little ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (at: number): number => (little ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > end) return undefined;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > end) return undefined;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}

function probeJpeg(b: Buffer): ImageProbe | undefined {
  let orientation: number | undefined;
  for (let at = 2; at + 4 <= b.length;) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    const length = b.readUInt16BE(at + 2);
    if (marker === 0xe1 && orientation === undefined) {
      orientation = exifOrientation(b, at + 4, Math.min(b.length, at + 2 + length));
    }
    if (SOF.has(marker)) {
      const size = { height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
      return { format: 'jpeg', ...size, pages: 1, ...(orientation !== undefined ? { orientation } : {}) };
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // image data before any frame header
    at += 2 + length;
  }
  return undefined;
}

function probeWebp(b: Buffer): ImageProbe | undefined {
  const first = b.toString('latin1', 12, 16);
  if (first === 'VP8 ') {
    // Lossy: frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
    return {
      format: 'webp',
      width: b.readUInt16LE(26) & 0x3fff,
      height: b.readUInt16LE(28) & 0x3fff,
      pages: 1,
    };
  }
  if (first === 'VP8L') {
    if (b[20] !== 0x2f) return undefined;
    const bits = b.readUInt32LE(21);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, pages: 1 };
  }
  if (first === 'VP8X') {
    const width = b.readUIntLE(24, 3) + 1;
    const height = b.readUIntLE(27, 3) + 1;
    const animated = (b[20] & 0x02) !== 0;
    let pages = 1;
    if (animated) {
      pages = 0;
      for (let at = 12; at + 8 <= b.length;) {
        const size = b.readUInt32LE(at + 4);
        if (b.toString('latin1', at, at + 4) === 'ANMF') pages++;
        at += 8 + size + (size & 1);
      }
      pages = Math.max(1, pages);
    }
    return { format: 'webp', width, height, pages };
  }
  return undefined;
}
