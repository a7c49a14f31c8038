import sharp from 'sharp';
import { basicAuth, startA1111Server, type A1111Server } from '../../helpers/a1111';

// Replays what the `webuiapi` Python client (mix1009/sdwebuiapi, webuiapi/webuiapi.py) sends,
// over real HTTP: WebUIApi(username=…, password=…) → set_auth() → check_extensions() (GET /scripts);
// util_get_model_names(), util_set_model() (lower-cases the name, POST /options), util_get_current_model(),
// util_get_sampler_names(), util_get_scheduler_names(); txt2img() with its full default payload, read by
// _to_api_result() (images b64decoded, info json.loads'ed); png_info() with b64_img()'s data: URL;
// get_progress() while a job runs; interrupt(); util_wait_for_ready(); set_options()/get_options();
// and the list getters (get_memory, get_cmd_flags, get_embeddings, get_loras, …).
const KEY = 'webuiapi-key-0123456789';
let server: A1111Server;

beforeAll(async () => {
  server = await startA1111Server([KEY], { slowStepMs: 150 });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

/** requests.Session with auth=(username, password): HTTP Basic on every call. */
const session = {
  async get(route: string): Promise<Response> {
    return fetch(`${server.url}/sdapi/v1${route}`, { headers: { authorization: basicAuth('me', KEY) } });
  },
  async post(route: string, json?: unknown): Promise<Response> {
    return fetch(`${server.url}/sdapi/v1${route}`, {
      method: 'POST',
      headers: {
        authorization: basicAuth('me', KEY),
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  },
};

/** webuiapi's txt2img() payload with its defaults (sampler "Euler a", scheduler "automatic", 20 steps). */
function txt2imgPayload(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    enable_hr: false,
    hr_scale: 2,
    hr_upscaler: 'Latent',
    hr_second_pass_steps: 0,
    hr_resize_x: 0,
    hr_resize_y: 0,
    hr_checkpoint_name: null,
    hr_sampler_name: null,
    hr_scheduler: null,
    hr_prompt: '',
    hr_negative_prompt: '',
    denoising_strength: 0.7,
    firstphase_width: 0,
    firstphase_height: 0,
    prompt: '',
    styles: [],
    seed: -1,
    subseed: -1,
    subseed_strength: 0.0,
    seed_resize_from_h: 0,
    seed_resize_from_w: 0,
    batch_size: 1,
    n_iter: 1,
    steps: 20,
    cfg_scale: 7.0,
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
    script_name: null,
    script_args: [],
    send_images: true,
    save_images: false,
    alwayson_scripts: {},
    ...overrides,
  };
}

/** _to_api_result(): raises on a non-200, decodes images, json.loads the info when it can. */
async function toApiResult(
  res: Response,
): Promise<{ images: Buffer[]; info: unknown; json: Record<string, unknown> }> {
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  const r = (await res.json()) as Record<string, unknown>;
  const images = ((r.images as string[] | undefined) ?? []).map((i) => Buffer.from(i, 'base64'));
  let info: unknown = '';
  if (typeof r.info === 'string') {
    try {
      info = JSON.parse(r.info);
    } catch {
      info = r.info;
    }
  }
  return { images, info, json: r };
}

interface Progress {
  progress: number;
  eta_relative: number;
  state: { job_count: number; sampling_step: number; sampling_steps: number; job: string };
  current_image: string | null;
}

describe('webuiapi against giraffe', () => {
  it('starts up: check_extensions finds no extensions', async () => {
    const scripts = (await (await session.get('/scripts')).json()) as { txt2img: string[] };
    expect(scripts.txt2img.includes('controlnet m2m')).toBe(false);
    expect(scripts.txt2img.includes('adetailer')).toBe(false);
  });

  it('lists and sets models by their lower-cased name, and reads the current one back', async () => {
    const models = ((await (await session.get('/sd-models')).json()) as { title: string }[])
      .map((x) => x.title)
      .sort();
    expect(models).toEqual(['demo', 'slow']);
    const samplers = ((await (await session.get('/samplers')).json()) as { name: string }[])
      .map((s) => s.name)
      .sort();
    expect(samplers).toContain('Euler a');
    const schedulers = ((await (await session.get('/schedulers')).json()) as { name: string }[]).map(
      (s) => s.name,
    );
    expect(schedulers).toContain('automatic');

    // util_set_model('SLOW'): name.lower() is in the list → POST options
    expect((await session.post('/options', { sd_model_checkpoint: 'slow' })).status).toBe(200);
    const options = (await (await session.get('/options')).json()) as Record<string, unknown>;
    expect(options.sd_model_checkpoint).toBe('slow');
    expect((await session.post('/options', { sd_model_checkpoint: 'demo' })).status).toBe(200);
  });

  it('txt2img with the full default payload; info parses; png_info reads the image back', async () => {
    const result = await toApiResult(
      await session.post(
        '/txt2img',
        txt2imgPayload({
          prompt: 'a lighthouse at dusk',
          negative_prompt: 'fog',
          seed: 1234,
          steps: 3,
          width: 72,
          height: 64,
          batch_size: 2,
        }),
      ),
    );
    expect(result.images).toHaveLength(2);
    for (const image of result.images) {
      expect(await sharp(image).metadata()).toMatchObject({ format: 'png', width: 72, height: 64 });
    }
    expect(result.info).toMatchObject({
      prompt: 'a lighthouse at dusk',
      negative_prompt: 'fog',
      seed: 1234,
      all_seeds: [1234, 1234],
      sampler_name: 'Euler a',
      steps: 3,
      cfg_scale: 7,
      width: 72,
      height: 64,
      sd_model_name: 'demo',
      batch_size: 2,
      restore_faces: false,
      styles: [],
      job_timestamp: expect.stringMatching(/^\d{14}$/),
    });
    expect(result.json.parameters).toMatchObject({
      prompt: 'a lighthouse at dusk',
      seed: 1234,
      sampler_name: 'Euler a',
    });

    // png_info(image): b64_img() sends a data: URL
    const dataUrl = `data:image/png;base64,${result.images[0].toString('base64')}`;
    const info = await toApiResult(await session.post('/png-info', { image: dataUrl }));
    // "info" is not JSON here: webuiapi keeps the text
    expect(info.info).toBe((result.info as { infotexts: string[] }).infotexts[0]);
    expect(info.json.parameters).toMatchObject({
      Prompt: 'a lighthouse at dusk',
      'Negative prompt': 'fog',
      Steps: '3',
      Sampler: 'Euler a',
      'CFG scale': '7',
      Seed: '1234',
      'Size-1': '72',
      'Size-2': '64',
    });
  });

  it('get_progress moves from 0 to 1 with a preview while a job runs, then util_wait_for_ready sees it idle', async () => {
    const idle = (await (await session.get('/progress')).json()) as Progress;
    expect(idle).toMatchObject({ progress: 0, state: { job_count: 0 }, current_image: null });

    let done = false;
    const job = session
      .post(
        '/txt2img',
        txt2imgPayload({
          prompt: 'slowly',
          steps: 12,
          width: 64,
          height: 64,
          override_settings: { sd_model_checkpoint: 'slow' },
        }),
      )
      .then(toApiResult)
      .finally(() => (done = true));
    const seen: Progress[] = [];
    while (!done) {
      seen.push((await (await session.get('/progress')).json()) as Progress);
      await new Promise((r) => setTimeout(r, 30));
    }
    const result = await job;
    expect(result.images).toHaveLength(1);
    const running = seen.filter((p) => p.state.job !== '');
    const values = running.map((p) => p.progress);
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(v).toBeGreaterThanOrEqual(0);
    for (const v of values) expect(v).toBeLessThanOrEqual(1);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values.some((v) => v > 0 && v < 1)).toBe(true);
    expect(Math.max(...values)).toBeGreaterThanOrEqual(0.5);
    const withImage = running.find((p) => p.current_image !== null && p.state.sampling_step > 0);
    expect(withImage).toBeDefined();
    expect(await sharp(Buffer.from(withImage?.current_image ?? '', 'base64')).metadata()).toMatchObject({
      format: 'png',
      width: 64,
      height: 64,
    });
    expect(running.every((p) => p.state.sampling_steps === 12 && p.state.job_count === 1)).toBe(true);

    // util_wait_for_ready(): progress 0 and job_count 0 once the job is over
    const after = (await (await session.get('/progress')).json()) as Progress;
    expect(after).toMatchObject({ progress: 0, state: { job_count: 0 } });
  });

  it('interrupt() ends the running job; the blocked txt2img call answers with an error', async () => {
    const call = session.post(
      '/txt2img',
      txt2imgPayload({
        prompt: 'endless',
        steps: 150,
        width: 64,
        height: 64,
        override_settings: { sd_model_checkpoint: 'slow' },
      }),
    );
    for (;;) {
      // requests sends Python's True as "True"
      const p = (await (await session.get('/progress?skip_current_image=True')).json()) as Progress;
      expect(p.current_image).toBeNull();
      if (p.state.sampling_step >= 1) break;
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(await (await session.post('/interrupt')).json()).toEqual({});
    const res = await call;
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: 'GIRAFFE_ERR_GENERATION_CANCELED' });
    await expect(toApiResult(await session.get('/progress'))).resolves.toBeDefined();
  });

  it('set_options keeps unknown options and get_options echoes them', async () => {
    const custom = { my_extension_setting: { nested: [1, 2] }, CLIP_stop_at_last_layers: 2, sd_vae: 'None' };
    expect((await session.post('/options', custom)).status).toBe(200);
    expect(await (await session.get('/options')).json()).toMatchObject(custom);
  });

  it('answers the list getters with honest, well-formed answers', async () => {
    const memory = (await (await session.get('/memory')).json()) as { ram: { total: number }; cuda: object };
    expect(memory.ram.total).toBeGreaterThan(0);
    expect(await (await session.get('/cmd-flags')).json()).toMatchObject({ api: true, nowebui: true });
    expect(await (await session.get('/embeddings')).json()).toEqual({ loaded: {}, skipped: {} });
    for (const list of [
      '/loras',
      '/upscalers',
      '/sd-vae',
      '/hypernetworks',
      '/face-restorers',
      '/prompt-styles',
      '/realesrgan-models',
      '/latent-upscale-modes',
    ]) {
      const res = await session.get(list);
      expect([list, res.status, await res.json()]).toEqual([list, 200, []]);
    }
    expect((await session.post('/refresh-checkpoints')).status).toBe(200);
  });
});
