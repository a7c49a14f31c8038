import * as zlib from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** CRC-32 (ISO 3309, reflected polynomial 0xEDB88320) table, as the PNG spec defines it. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(...parts: Buffer[]): number {
  let crc = 0xffffffff;
  for (const part of parts) {
    for (const byte of part) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function makeChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4), data), 0);
  return Buffer.concat([head, data, crc]);
}

function isLatin1(text: string): boolean {
  // tEXt allows Latin-1 without NUL; anything else needs UTF-8 in iTXt.
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0 || code > 0xff) return false;
  }
  return true;
}

/**
 * Builds a PNG text chunk: `tEXt` (Latin-1) when the text fits, otherwise
 * `iTXt` with uncompressed UTF-8 text and empty language and translated
 * keyword.
 */
export function makePngTextChunk(keyword: string, text: string): Buffer {
  if (!/^[\u0020-\u007e\u00a1-\u00ff]{1,79}$/.test(keyword) || keyword !== keyword.trim()) {
    throw new RangeError(
      `invalid PNG text keyword ${JSON.stringify(keyword)} (1-79 printable Latin-1 characters)`,
    );
  }
  const key = Buffer.from(keyword, 'latin1');
  if (isLatin1(text)) {
    return makeChunk('tEXt', Buffer.concat([key, Buffer.from([0]), Buffer.from(text, 'latin1')]));
  }
  // keyword \0, compression flag 0, method 0, language "" \0, translated keyword "" \0, text
  const header = Buffer.from([0, 0, 0, 0, 0]);
  return makeChunk('iTXt', Buffer.concat([key, header, Buffer.from(text, 'utf8')]));
}

interface PngChunk {
  type: string;
  data: Buffer;
  /** Offset just past the chunk's CRC. */
  end: number;
}

function* pngChunks(png: Buffer): Generator<PngChunk> {
  if (png.length < 8 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG file');
  let offset = 8;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > png.length) throw new Error(`PNG chunk at byte ${offset} runs past the end of the file`);
    const type = png.toString('latin1', offset + 4, offset + 8);
    yield { type, data: png.subarray(offset + 8, offset + 8 + length), end };
    if (type === 'IEND') return;
    offset = end;
  }
}

/** Returns a copy of `png` with a text chunk inserted right after IHDR. */
export function insertPngTextChunk(png: Buffer, keyword: string, text: string): Buffer {
  const first = pngChunks(png).next();
  if (first.done || first.value.type !== 'IHDR') throw new Error('PNG does not start with an IHDR chunk');
  const at = first.value.end;
  return Buffer.concat([png.subarray(0, at), makePngTextChunk(keyword, text), png.subarray(at)]);
}

/**
 * Reads the text chunks of a PNG (`tEXt`, `zTXt` and `iTXt`, compressed or
 * not) into keyword → text. A later chunk with the same keyword wins.
 */
export function readPngTextChunks(png: Buffer): Record<string, string> {
  // No prototype, so a keyword such as "__proto__" is stored like any other.
  const out = Object.create(null) as Record<string, string>;
  for (const { type, data } of pngChunks(png)) {
    if (type !== 'tEXt' && type !== 'zTXt' && type !== 'iTXt') continue;
    const keyEnd = data.indexOf(0);
    if (keyEnd < 1) continue;
    const keyword = data.toString('latin1', 0, keyEnd);
    if (type === 'tEXt') {
      out[keyword] = data.toString('latin1', keyEnd + 1);
    } else if (type === 'zTXt') {
      out[keyword] = zlib.inflateSync(data.subarray(keyEnd + 2)).toString('latin1');
    } else {
      const compressed = data[keyEnd + 1] === 1;
      const languageEnd = data.indexOf(0, keyEnd + 3);
      const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
      if (translatedEnd < 0) continue;
      const body = data.subarray(translatedEnd + 1);
      out[keyword] = (compressed ? zlib.inflateSync(body) : body).toString('utf8');
    }
  }
  return out;
}
