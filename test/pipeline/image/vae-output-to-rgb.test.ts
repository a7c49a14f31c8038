import { vaeOutputToRgb } from '../../../src/pipeline/image';
import { roundHalfToEven } from '../../../src/pipeline/image/vae-output-to-rgb';

describe('roundHalfToEven', () => {
  it('rounds exact halves to the even neighbour, like numpy.round', () => {
    // np.round([0.5, 1.5, 2.5, 3.5, 126.5, 127.5, 254.5, -0.5, -1.5, -2.5])
    expect([0.5, 1.5, 2.5, 3.5, 126.5, 127.5, 254.5, -0.5, -1.5, -2.5].map(roundHalfToEven)).toEqual([
      0, 2, 2, 4, 126, 128, 254, -0, -2, -2,
    ]);
    expect([0.49, 0.51, 1.4999, 2.5000001].map(roundHalfToEven)).toEqual([0, 1, 1, 3]);
  });
});

describe('vaeOutputToRgb', () => {
  it('matches numpy float32 post-processing, ties included', () => {
    // x = np.array(inputs, dtype=np.float32)
    // (np.clip(x / 2 + 0.5, 0, 1) * 255).round().astype('uint8') with numpy 2.4.
    // The first seven inputs hit exact .5 after the float32 multiply; 4 of
    // these 24 values differ from round-half-up.
    const inputs = [
      -0.21176469326019287, -0.20392155647277832, -0.00784313678741455, 0.0, 0.00784313678741455,
      0.9882352352142334, 0.996078372001648, -1.0, 1.0, -1.5, 1.25, -0.932121753692627, 0.615821361541748,
      -0.13549968600273132, 0.4916234016418457, 1.0515769720077515, 0.08469091355800629, 0.002465020166710019,
      -0.9414874911308289, -0.5094342231750488, -0.0002584981848485768, 0.3943060040473938, 0.668225884437561,
      -0.2619295120239258,
    ];
    const expected = [
      100, 102, 126, 128, 128, 254, 254, 0, 255, 0, 255, 9, 206, 110, 190, 255, 138, 128, 7, 63, 127, 178,
      213, 94,
    ];
    // Lay the 24 values out as one 3-channel 2x4 image, then read them back in NCHW order.
    const data = Float32Array.from(inputs);
    const [rgb] = vaeOutputToRgb(data, 1, 2, 4);
    const back: number[] = [];
    for (let c = 0; c < 3; c++) for (let p = 0; p < 8; p++) back.push(rgb[p * 3 + c]);
    expect(back).toEqual(expected);
  });

  it('interleaves NCHW planes into HWC pixels, row by row', () => {
    // One 2x2 image: R plane, then G plane, then B plane, each row-major.
    // Values are chosen so that x/2+0.5 scaled by 255 is a whole number: x = 2k/255 - 1.
    const v = (k: number): number => (2 * k) / 255 - 1;
    const r = [10, 11, 12, 13].map(v);
    const g = [20, 21, 22, 23].map(v);
    const b = [30, 31, 32, 33].map(v);
    const [image] = vaeOutputToRgb(Float32Array.from([...r, ...g, ...b]), 1, 2, 2);
    // pixel (0,0), (0,1), (1,0), (1,1)
    expect(Array.from(image)).toEqual([10, 20, 30, 11, 21, 31, 12, 22, 32, 13, 23, 33]);
  });

  it('splits a batch into one image each and clamps out-of-range values', () => {
    const data = new Float32Array(2 * 3 * 1 * 2);
    data.fill(-3, 0, 6); // image 0: all below −1
    data.fill(3, 6); // image 1: all above 1
    data[0] = Number.NaN;
    const images = vaeOutputToRgb(data, 2, 1, 2);
    expect(images).toHaveLength(2);
    expect(Array.from(images[0])).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(images[1])).toEqual([255, 255, 255, 255, 255, 255]);
  });

  it('rejects a tensor of the wrong size', () => {
    expect(() => vaeOutputToRgb(new Float32Array(11), 1, 2, 2)).toThrow(RangeError);
    expect(() => vaeOutputToRgb(new Float32Array(0), 0, 2, 2)).toThrow(RangeError);
  });
});
