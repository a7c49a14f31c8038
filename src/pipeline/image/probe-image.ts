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

function probeJpeg(b: Buffer): ImageProbe | undefined {
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
    if (SOF.has(marker)) {
      return { format: 'jpeg', height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7), pages: 1 };
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
