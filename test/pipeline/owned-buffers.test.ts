import { encodeImage } from '../../src/pipeline/image';
import { ownedBuffers } from '../../src/pipeline/thread/owned-buffers';

describe('ownedBuffers (what the inference thread moves instead of copying)', () => {
  it('moves an encoded PNG, whose Buffer owns all of its memory', async () => {
    // Pixels that do not compress, so the PNG is far larger than Node's 4 KiB pooling limit.
    let state = 2463534242; // xorshift32
    const pixels = Uint8Array.from({ length: 128 * 128 * 3 }, () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state & 0xff;
    });
    const png = await encodeImage(pixels, 128, 128, 'png', { parameters: 'a giraffe' });
    expect(png.length).toBeGreaterThan(8192);
    const moved = ownedBuffers([png]);
    expect(moved).toHaveLength(1);
    expect(moved[0]).toBe(png.buffer);
  });

  it("copies a Buffer that shares its memory: a pool slice or a view into another's", () => {
    const pooled = Buffer.from('tiny'); // a slice of Node's shared 8 KiB pool
    const whole = Buffer.alloc(16);
    const view = whole.subarray(4, 8);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    expect(ownedBuffers([pooled, view])).toHaveLength(0);
  });

  it('names each memory once, as postMessage requires of a transfer list', () => {
    const whole = Buffer.alloc(16);
    const again = Buffer.from(whole.buffer);
    const moved = ownedBuffers([whole, again]);
    expect(moved).toHaveLength(1);
    expect(moved[0]).toBe(whole.buffer);
  });
});
