import sharp from 'sharp';
import { waitForJob } from '../../../src/api/wait-for-job';
import { basicAuth, startA1111Server, type A1111Server } from '../../helpers/a1111';

// Replays what SillyTavern's server plugin sends to an AUTOMATIC1111 URL, over real HTTP:
// SillyTavern/SillyTavern src/endpoints/stable-diffusion.js (routes /ping, /samplers, /models,
// /schedulers, /vaes, /upscalers, /get-model, /set-model, /generate), with the generation body
// of generateAutoImage() in public/scripts/extensions/stable-diffusion/index.js and its default
// settings (sampler "DDIM", scheduler "normal", hires fix off). Every call carries
// getBasicAuthHeader(auth) (src/util.js): Basic base64 of the "user:password" the user typed.
const KEY = 'tavern-key-0123456789';
const AUTH = `silly:${KEY}`;
let server: A1111Server;

beforeAll(async () => {
  server = await startA1111Server([KEY], { slowStepMs: 150 });
}, 120_000);
afterAll(async () => {
  await server?.close();
});

const authorization = basicAuth('silly', KEY);

async function get(route: string): Promise<Response> {
  return fetch(`${server.url}${route}`, { headers: { Authorization: authorization } });
}

async function post(route: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${server.url}${route}`, {
    method: 'POST',
    headers:
      body === undefined
        ? { Authorization: authorization }
        : { 'Content-Type': 'application/json', Authorization: authorization },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
}

/** generateAutoImage()'s body with SillyTavern's default settings, plus getSdRequestBody()'s url and auth. */
function generateBody(prompt: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    url: server.url,
    auth: AUTH,
    prompt,
    negative_prompt: 'lowres, bad anatomy',
    sampler_name: 'DDIM',
    scheduler: 'normal',
    steps: 3,
    cfg_scale: 7,
    width: 64,
    height: 64,
    restore_faces: false,
    enable_hr: false,
    hr_upscaler: 'Latent',
    hr_scale: 2,
    denoising_strength: 0.7,
    hr_second_pass_steps: 0,
    // seed: undefined (-1 in the UI) is dropped by JSON.stringify
    override_settings: { CLIP_stop_at_last_layers: 1 },
    override_settings_restore_afterwards: true,
    clip_skip: 1,
    save_images: true,
    send_images: true,
    do_not_save_grid: false,
    do_not_save_samples: false,
    ...overrides,
  };
}

describe('SillyTavern against giraffe as its AUTOMATIC1111 URL', () => {
  it('connects (/ping) and fills its menus from the lists it reads', async () => {
    expect((await get('/sdapi/v1/options')).ok).toBe(true);

    const samplers = ((await (await get('/sdapi/v1/samplers')).json()) as { name: string }[]).map(
      (x) => x.name,
    );
    expect(samplers).toEqual(['Euler a', 'Euler', 'DPM++ 2M', 'DDIM', 'PLMS', 'LCM']);
    const models = ((await (await get('/sdapi/v1/sd-models')).json()) as { title: string }[]).map((x) => ({
      value: x.title,
      text: x.title,
    }));
    expect(models.map((m) => m.value).sort()).toEqual(['demo', 'slow']);
    const schedulers = ((await (await get('/sdapi/v1/schedulers')).json()) as { name: string }[]).map(
      (x) => x.name,
    );
    expect(schedulers).toEqual(['automatic', 'karras']);
    const vaes = ((await (await get('/sdapi/v1/sd-vae')).json()) as { model_name: string }[]).map(
      (x) => x.model_name,
    );
    expect(vaes).toEqual([]);
    const upscalers = (await (await get('/sdapi/v1/upscalers')).json()) as { name: string }[];
    const latent = (await (await get('/sdapi/v1/latent-upscale-modes')).json()) as { name: string }[];
    expect([...upscalers, ...latent].map((x) => x.name)).toEqual([]);

    const options = (await (await get('/sdapi/v1/options')).json()) as Record<string, unknown>;
    expect(options.sd_model_checkpoint).toBe('demo');
  });

  it('sets the model, waits until idle as /set-model does, and generates with its default settings', async () => {
    const set = await post('/sdapi/v1/options', { sd_model_checkpoint: 'slow' });
    expect(set.ok).toBe(true);
    // /set-model polls progress until progress is 0 and job_count 0 (nothing of ours is running).
    const progress = (await (await get('/sdapi/v1/progress')).json()) as {
      progress: number;
      state: { job_count: number };
    };
    expect(progress.progress).toBe(0);
    expect(progress.state.job_count).toBe(0);
    expect(
      ((await (await get('/sdapi/v1/options')).json()) as { sd_model_checkpoint: string })
        .sd_model_checkpoint,
    ).toBe('slow');

    const result = await post('/sdapi/v1/txt2img', generateBody('a knight in a tavern', { seed: 7 }));
    expect(result.ok).toBe(true);
    const data = (await result.json()) as { images: string[]; info: string };
    // generateAutoImage returns { format: 'png', data: data.images[0] }
    const meta = await sharp(Buffer.from(data.images[0], 'base64')).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 64, height: 64 });
    const info = JSON.parse(data.info) as Record<string, unknown>;
    expect(info).toMatchObject({
      sd_model_name: 'slow',
      sampler_name: 'DDIM',
      seed: 7,
      all_seeds: [7],
      steps: 3,
    });

    await post('/sdapi/v1/options', { sd_model_checkpoint: 'demo' });
  });

  it('ends the job when the user cancels: the request is aborted and /interrupt is posted', async () => {
    const controller = new AbortController();
    const pending = post(
      '/sdapi/v1/txt2img',
      generateBody('a long tale', { steps: 100, override_settings: { sd_model_checkpoint: 'slow' } }),
      controller.signal,
    ).catch((err: unknown) => err);
    // Wait until the job runs (SillyTavern's user presses stop while it does).
    let jobId = '';
    for (;;) {
      const p = (await (await get('/sdapi/v1/progress?skip_current_image=true')).json()) as {
        current_task: string | null;
        state: { sampling_step: number };
      };
      if (p.current_task && p.state.sampling_step >= 1) {
        jobId = p.current_task;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // request.socket.on('close'): posts /interrupt without waiting for it, then aborts the fetch.
    const interrupted = post('/sdapi/v1/interrupt');
    controller.abort();
    expect(await pending).toMatchObject({ name: 'AbortError' });
    expect((await interrupted).ok).toBe(true);
    const ended = await waitForJob(server.service.driver, jobId, 60_000);
    expect(ended?.status).toBe('canceled');
    expect(ended?.progress?.step ?? 0).toBeLessThan(100);
  });

  it('answers a request it cannot honour with an A1111 error SillyTavern shows as text', async () => {
    const res = await post('/sdapi/v1/txt2img', generateBody('x', { enable_hr: true }));
    expect(res.status).toBe(422);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      error: 'GIRAFFE_ERR_SDAPI_UNSUPPORTED',
      detail: expect.stringContaining('enable_hr: hires fix is not supported'),
      body: '',
      errors: expect.stringContaining('enable_hr'),
    });
  });
});
