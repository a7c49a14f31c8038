import { formatA1111Parameters, parseA1111Parameters } from '../../../src/pipeline/image';

describe('formatA1111Parameters', () => {
  it('writes the AUTOMATIC1111 infotext layout', () => {
    expect(
      formatA1111Parameters({
        prompt: 'a photo of a cat',
        negative_prompt: 'blurry, lowres',
        steps: 20,
        scheduler: 'euler_a',
        karras: true,
        guidance_scale: 7.5,
        seed: 42,
        width: 768,
        height: 512,
        model: 'demo',
      }),
    ).toBe(
      'a photo of a cat\nNegative prompt: blurry, lowres\n' +
        'Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 768x512, Model: demo',
    );
  });

  it('omits an empty negative prompt, the schedule type without Karras, and absent model fields', () => {
    const text = formatA1111Parameters({
      prompt: 'x',
      negative_prompt: '',
      steps: 4,
      scheduler: 'lcm',
      guidance_scale: 1,
      seed: 0,
      width: 512,
      height: 512,
    });
    expect(text).toBe('x\nSteps: 4, Sampler: LCM, CFG scale: 1, Seed: 0, Size: 512x512');
  });

  it.each([
    ['euler', 'Euler'],
    ['euler_a', 'Euler a'],
    ['ddim', 'DDIM'],
    ['pndm', 'PLMS'],
    ['dpmpp_2m', 'DPM++ 2M'],
    ['lcm', 'LCM'],
  ])('names scheduler %s "%s"', (scheduler, sampler) => {
    const text = formatA1111Parameters({
      prompt: 'p',
      steps: 1,
      scheduler,
      guidance_scale: 1,
      seed: 1,
      width: 8,
      height: 8,
    });
    expect(text).toContain(`Sampler: ${sampler},`);
    expect(parseA1111Parameters(text).scheduler).toBe(scheduler);
  });

  it('JSON-quotes values containing commas or colons', () => {
    const text = formatA1111Parameters({
      prompt: 'p',
      steps: 1,
      scheduler: 'ddim',
      guidance_scale: 1,
      seed: 1,
      width: 8,
      height: 8,
      model: 'a, b: c',
    });
    expect(text.endsWith('Model: "a, b: c"')).toBe(true);
    expect(parseA1111Parameters(text).model).toBe('a, b: c');
  });
});

describe('parseA1111Parameters', () => {
  it('reads infotext as AUTOMATIC1111 writes it, with unknown keys in extra', () => {
    const text =
      'masterpiece, 1girl\nwith a second line\nNegative prompt: lowres\nbad hands\n' +
      'Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, ' +
      'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.5, Version: v1.6.0';
    expect(parseA1111Parameters(text)).toEqual({
      prompt: 'masterpiece, 1girl\nwith a second line',
      negative_prompt: 'lowres\nbad hands',
      steps: 28,
      scheduler: 'dpmpp_2m',
      karras: true,
      guidance_scale: 7,
      seed: 1234567890,
      width: 512,
      height: 768,
      model: 'v1-5-pruned-emaonly',
      modelHash: '6ce0161689',
      strength: 0.5,
      extra: { Version: 'v1.6.0' },
    });
  });

  it('treats text without a parameters line as all prompt', () => {
    expect(parseA1111Parameters('just a prompt')).toEqual({
      prompt: 'just a prompt',
      negative_prompt: null,
      karras: false,
      extra: {},
    });
  });
});
