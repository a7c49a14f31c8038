import * as zlib from 'node:zlib';

import sharp from 'sharp';

import {
  encodeImage,
  formatA1111Parameters,
  parseA1111Parameters,
  readPngTextChunks,
} from '../../../src/pipeline/image';

const WIDTH = 24;
const HEIGHT = 16;

/** A deterministic gradient so the encoders have real content. */
function testPattern(): Uint8Array {
  const rgb = new Uint8Array(WIDTH * HEIGHT * 3);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const i = (y * WIDTH + x) * 3;
      rgb[i] = x * 10;
      rgb[i + 1] = y * 15;
      rgb[i + 2] = (x * y) % 256;
    }
  }
  return rgb;
}

interface RawChunk {
  type: string;
  data: Buffer;
  crc: number;
}

/** Walks the chunks by hand, independently of the code under test. */
function chunks(png: Buffer): RawChunk[] {
  const out: RawChunk[] = [];
  for (let offset = 8; offset < png.length;) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    out.push({
      type,
      data: png.subarray(offset + 8, offset + 8 + length),
      crc: png.readUInt32BE(offset + 8 + length),
    });
    offset += 12 + length;
  }
  return out;
}

const PARAMS = {
  prompt: 'a photo of a cat',
  negative_prompt: 'blurry',
  steps: 20,
  scheduler: 'euler_a',
  karras: false,
  guidance_scale: 7.5,
  seed: 42,
  width: WIDTH,
  height: HEIGHT,
  model: 'demo',
};

describe('encodeImage as PNG', () => {
  it('writes a decodable PNG with a tEXt parameters chunk right after IHDR', async () => {
    const text = formatA1111Parameters(PARAMS);
    const png = await encodeImage(testPattern(), WIDTH, HEIGHT, 'png', { parameters: text });

    const all = chunks(png);
    expect(all.map((c) => c.type).slice(0, 2)).toEqual(['IHDR', 'tEXt']);
    expect(all.at(-1)?.type).toBe('IEND');
    // zlib.crc32 is an independent CRC-32; the chunk CRC covers type and data.
    for (const c of all)
      expect(c.crc).toBe(zlib.crc32(Buffer.concat([Buffer.from(c.type, 'latin1'), c.data])));
    expect(all[1].data.toString('latin1')).toBe(`parameters\0${text}`);

    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([WIDTH, HEIGHT, 3]);
    expect(Buffer.compare(data, Buffer.from(testPattern()))).toBe(0);

    const found = readPngTextChunks(png);
    expect(found.parameters).toBe(text);
    expect(parseA1111Parameters(found.parameters)).toEqual({ ...PARAMS, extra: {} });
  });

  it('uses UTF-8 iTXt for non-Latin-1 text and keeps newlines', async () => {
    const params = {
      ...PARAMS,
      prompt: '東京の夜景、ネオン\nsecond line: café, "quoted"',
      negative_prompt: 'низкое качество\nwatermark',
      scheduler: 'dpmpp_2m',
      karras: true,
      model: 'sd: v1.5, fp16',
      modelHash: 'abc123',
    };
    const text = formatA1111Parameters(params);
    const png = await encodeImage(testPattern(), WIDTH, HEIGHT, 'png', { parameters: text });

    const itxt = chunks(png)[1];
    expect(itxt.type).toBe('iTXt');
    // keyword \0, compression flag 0, method 0, empty language \0, empty translated keyword \0, UTF-8 text
    expect(itxt.data.subarray(0, 15).toString('latin1')).toBe('parameters\0\0\0\0\0');
    expect(itxt.data.subarray(15).toString('utf8')).toBe(text);

    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', WIDTH, HEIGHT]);
    expect(parseA1111Parameters(readPngTextChunks(png).parameters)).toEqual({ ...params, extra: {} });
  });

  it('omits the chunk when no parameters are given', async () => {
    const png = await encodeImage(testPattern(), WIDTH, HEIGHT, 'png');
    expect(chunks(png).some((c) => c.type === 'tEXt' || c.type === 'iTXt')).toBe(false);
    expect(readPngTextChunks(png)).toEqual({});
  });

  it('reads compressed iTXt and zTXt written by others', () => {
    const base = Buffer.from('89504e470d0a1a0a', 'hex');
    const chunk = (type: string, data: Buffer): Buffer => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length);
      head.write(type, 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])));
      return Buffer.concat([head, data, crc]);
    };
    const png = Buffer.concat([
      base,
      chunk(
        'zTXt',
        Buffer.concat([
          Buffer.from('Comment\0\0', 'latin1'),
          zlib.deflateSync(Buffer.from('caf\xe9', 'latin1')),
        ]),
      ),
      chunk(
        'iTXt',
        Buffer.concat([
          Buffer.from('parameters\0\x01\0ja\0\0', 'latin1'),
          zlib.deflateSync(Buffer.from('猫', 'utf8')),
        ]),
      ),
      chunk('IEND', Buffer.alloc(0)),
    ]);
    expect(readPngTextChunks(png)).toEqual({ Comment: 'café', parameters: '猫' });
    expect(() => readPngTextChunks(Buffer.from('not a png'))).toThrow(/not a PNG/);
  });
});

describe.each(['png', 'jpeg', 'webp'] as const)('encodeImage as %s', (format) => {
  it('produces a valid image of the right size', async () => {
    const out = await encodeImage(testPattern(), WIDTH, HEIGHT, format, {
      parameters: 'a cat\nSteps: 1, Seed: 2, Size: 24x16',
    });
    const meta = await sharp(out).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([format, WIDTH, HEIGHT]);
  });

  it('is deterministic: same input, same bytes', async () => {
    const options = { parameters: formatA1111Parameters(PARAMS), quality: 80 };
    const a = await encodeImage(testPattern(), WIDTH, HEIGHT, format, options);
    const b = await encodeImage(testPattern(), WIDTH, HEIGHT, format, options);
    expect(Buffer.compare(a, b)).toBe(0);
  });
});

describe('encodeImage input checks', () => {
  it('rejects a buffer of the wrong size and a bad quality', async () => {
    await expect(encodeImage(new Uint8Array(10), WIDTH, HEIGHT, 'png')).rejects.toThrow(RangeError);
    await expect(encodeImage(testPattern(), WIDTH, HEIGHT, 'jpeg', { quality: 0 })).rejects.toThrow(
      RangeError,
    );
  });
});
