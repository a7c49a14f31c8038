import sharp from 'sharp';
import { basicAuth, startA1111Server, type A1111Server } from '../../helpers/a1111';
import { centreMaskPng, gradientPng } from '../../helpers/edit-images';

// webuiapi's img2img() (mix1009/sdwebuiapi, webuiapi/webuiapi.py): init_images and mask as
// b64_img() data: URLs, with its default payload (resize_mode 0, denoising_strength 0.75,
// mask_blur 4, inpainting_fill 0, inpaint_full_res True, inpainting_mask_invert 0,
// include_init_images False, sampler "Euler a", scheduler "automatic", 20 steps), read by
// _to_api_result(). giraffe maps it onto its image editing (issue 13).
const KEY = 'webuiapi-edit-key-0123456789';
let server: A1111Server;

beforeAll(async () => {
  server = await startA1111Server([KEY]);
});
afterAll(async () => {
  await server?.close();
});

const dataUrl = (png: Buffer): string => `data:image/png;base64,${png.toString('base64')}`;

function img2imgPayload(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    init_images: [],
    resize_mode: 0,
    denoising_strength: 0.75,
    mask_blur: 4,
    inpainting_fill: 0,
    inpaint_full_res: true,
    inpaint_full_res_padding: 0,
    inpainting_mask_invert: 0,
    initial_noise_multiplier: 1,
    prompt: '',
    styles: [],
    seed: -1,
    subseed: -1,
    subseed_strength: 0,
    seed_resize_from_h: 0,
    seed_resize_from_w: 0,
    batch_size: 1,
    n_iter: 1,
    steps: 20,
    cfg_scale: 7.0,
    image_cfg_scale: 1.5,
    width: 512,
    height: 512,
    restore_faces: false,
    tiling: false,
    do_not_save_samples: false,
    do_not_save_grid: false,
    negative_prompt: '',
    eta: 1.0,
    s_churn: 0,
    s_tmax: 0,
    s_tmin: 0,
    s_noise: 1,
    override_settings: {},
    override_settings_restore_afterwards: true,
    sampler_name: 'Euler a',
    scheduler: 'automatic',
    sampler_index: 'Euler a',
    include_init_images: false,
    script_name: null,
    script_args: [],
    send_images: true,
    save_images: false,
    alwayson_scripts: {},
    ...overrides,
  };
}

async function img2img(
  payload: Record<string, unknown>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/sdapi/v1/img2img`, {
    method: 'POST',
    headers: { authorization: basicAuth('me', KEY), 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('webuiapi img2img() against giraffe', () => {
  it('image to image: the asked size, info parses, the input is not echoed', async () => {
    const init = await gradientPng(96, 64);
    const res = await img2img(
      img2imgPayload({
        init_images: [dataUrl(init)],
        prompt: 'a sunset',
        seed: 5,
        steps: 4,
        width: 64,
        height: 64,
        resize_mode: 1,
      }),
    );
    expect(res.status).toBe(200);
    const images = res.json.images as string[];
    expect(images).toHaveLength(1);
    expect(await sharp(Buffer.from(images[0], 'base64')).metadata()).toMatchObject({
      format: 'png',
      width: 64,
      height: 64,
    });
    const info = JSON.parse(res.json.info as string) as Record<string, unknown>;
    expect(info).toMatchObject({
      prompt: 'a sunset',
      seed: 5,
      denoising_strength: 0.75,
      width: 64,
      height: 64,
      sampler_name: 'Euler a',
    });
    expect(res.json.parameters).toMatchObject({ init_images: null, mask: null, denoising_strength: 0.75 });
    const job = await server.service.driver.queue.get(info.job_id as string);
    expect(job?.request).toMatchObject({ strength: 0.75, resize_mode: 'crop' });
  });

  it('inpainting with a mask (and inverted), echoing the inputs when include_init_images is set', async () => {
    const init = await gradientPng(64, 64);
    const mask = await centreMaskPng(64, 64);
    for (const invert of [0, 1]) {
      const res = await img2img(
        img2imgPayload({
          init_images: [dataUrl(init)],
          mask: dataUrl(mask),
          inpainting_mask_invert: invert,
          include_init_images: true,
          prompt: 'a hole',
          steps: 3,
          width: 64,
          height: 64,
          denoising_strength: 0.9,
        }),
      );
      expect([invert, res.status]).toEqual([invert, 200]);
      expect(await sharp(Buffer.from((res.json.images as string[])[0], 'base64')).metadata()).toMatchObject({
        width: 64,
        height: 64,
      });
      expect(res.json.parameters).toMatchObject({ init_images: [dataUrl(init)], mask: dataUrl(mask) });
      const info = JSON.parse(res.json.info as string) as { job_id: string };
      const job = await server.service.driver.queue.get(info.job_id);
      expect(job?.request).toMatchObject({ strength: 0.9, mask_blur: 4, resize_mode: 'stretch' });
    }
  });

  it('refuses an init image that is not an image, and a missing one', async () => {
    const bad = await img2img(img2imgPayload({ init_images: ['bm90IGFuIGltYWdl'], width: 64, height: 64 }));
    expect(bad).toMatchObject({ status: 422, json: { error: 'GIRAFFE_ERR_SDAPI_IMAGE_INVALID' } });
    const none = await img2img(img2imgPayload({ width: 64, height: 64 }));
    expect(none.status).toBe(422);
  });
});
