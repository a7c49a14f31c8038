import sharp from 'sharp';
import { waitForJob } from '../../../src/api/wait-for-job';
import { insertPngTextChunk } from '../../../src/pipeline/image/png-text-chunk';
import { startDemoService } from '../../helpers/demo-service';
import { basicAuth, startA1111Server, type A1111Server } from '../../helpers/a1111';

// The A1111 adapter's own rules, over real HTTP: its error shape and status codes, what it
// refuses and what it ignores, auth, per-key options and progress, the wait bound, png-info on
// A1111-written infotext, and the setting that switches it off.
const KEY_A = 'a1111-key-a-0123456789';
const KEY_B = 'a1111-key-b-0123456789';
let server: A1111Server;

beforeAll(async () => {
  server = await startA1111Server([KEY_A, KEY_B], {
    slowStepMs: 150,
    env: { A1111_WAIT_TIMEOUT_MS: '5000' },
  });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

async function call(
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
  authorization = `Bearer ${KEY_A}`,
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/sdapi/v1${route}`, {
    method,
    headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

const fast = { prompt: 'a test card', steps: 2, width: 64, height: 64 };

describe('A1111 errors', () => {
  it('answers invalid values with 422 and FastAPI-style detail', async () => {
    const res = await call('POST', '/txt2img', { ...fast, width: 100, steps: 'many' });
    expect(res.status).toBe(422);
    expect(res.json).toMatchObject({
      error: 'RequestValidationError',
      body: '',
      errors: expect.stringContaining('width'),
    });
    const locs = (res.json.detail as { loc: unknown[] }[]).map((d) => d.loc);
    expect(locs).toEqual(
      expect.arrayContaining([
        ['body', 'width'],
        ['body', 'steps'],
      ]),
    );
  });

  it.each([
    ['enable_hr', { enable_hr: true }],
    ['tiling', { tiling: true }],
    ['styles', { styles: ['Cinematic'] }],
    ['subseed_strength', { subseed_strength: 0.3 }],
    ['script_name', { script_name: 'x/y/z plot' }],
    ['alwayson_scripts', { alwayson_scripts: { ControlNet: { args: [] } } }],
    ['refiner_checkpoint', { refiner_checkpoint: 'sdxl_refiner' }],
    ['sampler_name', { sampler_name: 'DPM++ SDE' }],
    ['scheduler', { scheduler: 'exponential' }],
    ['scheduler', { sampler_name: 'DDIM', scheduler: 'karras' }],
    ['samples_format', { override_settings: { samples_format: 'tiff' } }],
  ])('refuses what it would get wrong: %s', async (field, extra) => {
    const res = await call('POST', '/txt2img', { ...fast, ...extra });
    expect(res.status).toBe(422);
    expect(res.json).toMatchObject({
      error: 'GIRAFFE_ERR_SDAPI_UNSUPPORTED',
      detail: expect.stringMatching(new RegExp(`^${field}: `)),
    });
  });

  it('refuses more than 8 images a call, and an unknown checkpoint', async () => {
    expect((await call('POST', '/txt2img', { ...fast, batch_size: 4, n_iter: 3 })).status).toBe(422);
    const model = await call('POST', '/txt2img', {
      ...fast,
      override_settings: { sd_model_checkpoint: 'nope' },
    });
    expect(model).toMatchObject({ status: 422, json: { error: 'GIRAFFE_ERR_MODEL_UNKNOWN' } });
    const option = await call('POST', '/options', { sd_model_checkpoint: 'nope.safetensors [abcdef1234]' });
    expect(option).toMatchObject({ status: 422, json: { error: 'GIRAFFE_ERR_MODEL_UNKNOWN' } });
  });

  it('answers unknown A1111 routes with its 404 shape', async () => {
    const res = await call('POST', '/extra-single-image', { image: '' });
    expect(res).toMatchObject({
      status: 404,
      json: { error: 'HTTPException', detail: expect.stringContaining('Not Found') },
    });
  });
});

describe('A1111 fields', () => {
  it('ignores harmless knobs, unknown fields and nulls; honours samples_format and sampler aliases', async () => {
    const res = await call('POST', '/txt2img', {
      ...fast,
      restore_faces: true,
      eta: 0.5,
      s_noise: 1,
      clip_skip: 2,
      hr_upscaler: null,
      negative_prompt: null,
      sampler_name: 'k_dpmpp_2m',
      scheduler: 'Karras',
      override_settings: { CLIP_stop_at_last_layers: 2, sd_vae: 'vae-ft-mse', samples_format: 'jpg' },
      url: 'http://127.0.0.1:7860',
      auth: 'user:pass',
    });
    expect(res.status).toBe(200);
    const image = Buffer.from((res.json.images as string[])[0], 'base64');
    expect(await sharp(image).metadata()).toMatchObject({ format: 'jpeg', width: 64, height: 64 });
    const info = JSON.parse(res.json.info as string) as Record<string, unknown>;
    expect(info).toMatchObject({
      sampler_name: 'DPM++ 2M',
      extra_generation_params: { 'Schedule type': 'Karras' },
    });
    expect(res.headers.get('x-giraffe-job-id')).toBe(info.job_id);
  });

  it('send_images: false answers without images', async () => {
    const res = await call('POST', '/txt2img', { ...fast, send_images: false });
    expect(res.status).toBe(200);
    expect(res.json.images).toEqual([]);
    expect(JSON.parse(res.json.info as string)).toMatchObject({ seed: expect.any(Number) });
  });

  it('cancels a job that outlasts A1111_WAIT_TIMEOUT_MS and says so with 504', async () => {
    const res = await call('POST', '/txt2img', {
      ...fast,
      steps: 150,
      override_settings: { sd_model_checkpoint: 'slow' },
    });
    expect(res.status).toBe(504);
    expect(res.json).toMatchObject({
      error: 'GIRAFFE_ERR_SDAPI_TIMEOUT',
      detail: expect.stringContaining('A1111_WAIT_TIMEOUT_MS'),
    });
    const job = await waitForJob(server.service.driver, res.headers.get('x-giraffe-job-id') ?? '', 60_000);
    expect(job?.status).toBe('canceled');
  });
});

describe('A1111 load', () => {
  it('queues many blocking calls from several keys at once; every one gets its own images', async () => {
    const calls = Array.from({ length: 8 }, (_, i) =>
      call('POST', '/txt2img', { ...fast, seed: 100 + i }, `Bearer ${i % 2 === 0 ? KEY_A : KEY_B}`),
    );
    const answers = await Promise.all(calls);
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const seeds = answers.map((a) => (JSON.parse(a.json.info as string) as { seed: number }).seed);
    expect(seeds).toEqual(Array.from({ length: 8 }, (_, i) => 100 + i));
    expect(new Set(answers.map((a) => a.headers.get('x-giraffe-job-id'))).size).toBe(8);
  });
});

describe('A1111 auth and per-key state', () => {
  it('takes the key as a Basic password (with or without a user name), as Bearer, or as X-API-Key', async () => {
    expect((await call('GET', '/sd-models', undefined, basicAuth('anyone', KEY_A))).status).toBe(200);
    expect(
      (await call('GET', '/sd-models', undefined, `Basic ${Buffer.from(KEY_A).toString('base64')}`)).status,
    ).toBe(200);
    expect((await call('GET', '/sd-models', undefined, `Bearer ${KEY_B}`)).status).toBe(200);
    const res = await fetch(`${server.url}/sdapi/v1/sd-models`, { headers: { 'x-api-key': KEY_A } });
    expect(res.status).toBe(200);
  });

  it('refuses a wrong password with 401, a Basic challenge and the A1111 body', async () => {
    const res = await call('GET', '/options', undefined, basicAuth('user', 'wrong'));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(res.json).toEqual({
      error: 'GIRAFFE_ERR_AUTH_REQUIRED',
      detail: 'the API key is not valid',
      body: '',
      errors: 'the API key is not valid',
    });
  });

  it("keeps each key's options apart", async () => {
    expect((await call('POST', '/options', { sd_model_checkpoint: 'slow', my_flag: 1 })).status).toBe(200);
    expect((await call('GET', '/options')).json).toMatchObject({ sd_model_checkpoint: 'slow', my_flag: 1 });
    const other = (await call('GET', '/options', undefined, `Bearer ${KEY_B}`)).json;
    expect(other.sd_model_checkpoint).toBe('demo');
    expect(other).not.toHaveProperty('my_flag');
    await call('POST', '/options', { sd_model_checkpoint: 'demo' });
  });

  it("shows and interrupts only the caller's own job", async () => {
    const running = call('POST', '/txt2img', {
      ...fast,
      steps: 100,
      override_settings: { sd_model_checkpoint: 'slow' },
    });
    let jobId = '';
    for (;;) {
      const p = (await call('GET', '/progress?skip_current_image=true')).json as {
        current_task: string | null;
      };
      if (p.current_task) {
        jobId = p.current_task;
        break;
      }
      await new Promise((r) => setTimeout(r, 30));
    }
    const otherView = (await call('GET', '/progress', undefined, `Bearer ${KEY_B}`)).json;
    expect(otherView).toMatchObject({ progress: 0, state: { job_count: 0, job: '' }, current_task: null });
    expect((await call('POST', '/interrupt', undefined, `Bearer ${KEY_B}`)).status).toBe(200);
    expect((await server.service.driver.queue.get(jobId))?.status).toBe('running');
    expect((await call('POST', '/skip')).status).toBe(200);
    expect((await running).status).toBe(409);
    expect((await server.service.driver.queue.get(jobId))?.status).toBe('canceled');
  });
});

describe('png-info', () => {
  it('reads infotext A1111 itself wrote', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    const text =
      'masterpiece, a cat\nNegative prompt: ugly\nSteps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3735928559, ' +
      'Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Clip skip: 2, Version: v1.6.0';
    const tagged = insertPngTextChunk(png, 'parameters', text);
    const res = await call('POST', '/png-info', { image: tagged.toString('base64') });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      info: text,
      items: {},
      parameters: {
        Prompt: 'masterpiece, a cat',
        'Negative prompt': 'ugly',
        Steps: '28',
        Sampler: 'DPM++ 2M',
        'Schedule type': 'Karras',
        'CFG scale': '6.5',
        Seed: '3735928559',
        'Size-1': '512',
        'Size-2': '768',
        'Model hash': '6ce0161689',
        Model: 'v1-5-pruned-emaonly',
        'Clip skip': '2',
        Version: 'v1.6.0',
      },
    });
  });

  it('answers an image without parameters with empty info, and refuses what is not an image', async () => {
    const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
      .jpeg()
      .toBuffer();
    expect((await call('POST', '/png-info', { image: jpeg.toString('base64') })).json).toEqual({
      info: '',
      items: {},
      parameters: {},
    });
    for (const image of ['bm90IGFuIGltYWdl', 'http://example.com/a.png', '%%%']) {
      const res = await call('POST', '/png-info', { image });
      expect([image, res.status, res.json.error]).toEqual([image, 422, 'GIRAFFE_ERR_SDAPI_IMAGE_INVALID']);
    }
  });
});

it('A1111_API=false leaves /sdapi/v1 unrouted', async () => {
  const off = await startDemoService({ env: { A1111_API: 'false' }, worker: false });
  try {
    const res = await off.app.inject({ method: 'GET', url: '/sdapi/v1/options' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'GIRAFFE_ERR_ROUTE_NOT_FOUND' });
  } finally {
    await off.close();
  }
});
