import sharp from 'sharp';
import { basicAuth, startA1111Server, type A1111Server } from '../../helpers/a1111';

// Replays what open-webui sends to an AUTOMATIC1111 backend, over real HTTP:
// open-webui/open-webui backend/open_webui/routers/images.py —
//   verify_url()            GET  /sdapi/v1/options (raise_for_status)
//   get_models()            GET  /sdapi/v1/sd-models → [{id: title, name: model_name}]
//   get_image_model()       GET  /sdapi/v1/options → options['sd_model_checkpoint']
//   set_image_model()       GET  /sdapi/v1/options, then POST the whole dict back with sd_model_checkpoint changed
//   image_generations()     POST /sdapi/v1/txt2img {prompt, batch_size, width, height, steps, negative_prompt}
//                           reads res['images'] (plain base64, decoded with b64decode) and res['info']
// get_automatic1111_api_auth() sends `authorization: Basic base64(AUTOMATIC1111_API_AUTH)`, or an
// empty header when no auth is configured.
const KEY = 'owui-key-0123456789';
let server: A1111Server;

beforeAll(async () => {
  server = await startA1111Server([KEY]);
});
afterAll(async () => {
  await server?.close();
});

/** open-webui's aiohttp calls: JSON in, JSON out, the authorization header it builds. */
async function call(
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
  authorization = basicAuth('openwebui', KEY),
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe('open-webui against giraffe as its AUTOMATIC1111 backend', () => {
  it('verifies the URL, lists models, reads, sets and re-reads the model, then generates', async () => {
    // verify_url
    expect((await call('GET', '/sdapi/v1/options')).status).toBe(200);

    // get_models: title and model_name of each
    const models = (await call('GET', '/sdapi/v1/sd-models')).json as { title: string; model_name: string }[];
    const ids = models.map((m) => ({ id: m.title, name: m.model_name }));
    expect(ids).toContainEqual({ id: 'demo', name: 'demo' });

    // get_image_model
    const options = (await call('GET', '/sdapi/v1/options')).json as Record<string, unknown>;
    expect(options.sd_model_checkpoint).toBe('demo');

    // set_image_model posts every option it read back, with the checkpoint changed
    const posted = await call('POST', '/sdapi/v1/options', { ...options, sd_model_checkpoint: ids[0].id });
    expect(posted.status).toBe(200);
    const after = (await call('GET', '/sdapi/v1/options')).json as Record<string, unknown>;
    expect(after).toMatchObject({ ...options, sd_model_checkpoint: ids[0].id });

    // image_generations: size from IMAGE_SIZE "WxH", n → batch_size
    const res = await call('POST', '/sdapi/v1/txt2img', {
      prompt: 'a giraffe on a skateboard',
      batch_size: 2,
      width: 64,
      height: 72,
      steps: 2,
      negative_prompt: 'blurry',
    });
    expect(res.status).toBe(200);
    const body = res.json as { images: string[]; info: string; parameters: Record<string, unknown> };
    expect(body.images).toHaveLength(2);
    for (const image of body.images) {
      // get_image_data: no comma → plain base64, mime image/png
      expect(image).not.toContain(',');
      const meta = await sharp(Buffer.from(image, 'base64')).metadata();
      expect(meta).toMatchObject({ format: 'png', width: 64, height: 72 });
    }
    const info = JSON.parse(body.info) as Record<string, unknown>;
    expect(info).toMatchObject({
      prompt: 'a giraffe on a skateboard',
      negative_prompt: 'blurry',
      width: 64,
      height: 72,
      steps: 2,
      cfg_scale: 7,
      sampler_name: 'Euler',
      sd_model_name: 'demo',
      batch_size: 2,
    });
    expect(info.all_seeds).toEqual([info.seed, info.seed]);
    expect(info.infotexts).toHaveLength(2);
    expect((info.infotexts as string[])[0]).toMatch(
      /^a giraffe on a skateboard\nNegative prompt: blurry\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: \d+, Size: 64x72/,
    );
  });

  it('works with no auth configured when the server has no keys (empty authorization header)', async () => {
    const open = await startA1111Server([]);
    try {
      const res = await fetch(`${open.url}/sdapi/v1/options`, { headers: { authorization: '' } });
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
  });

  it('is refused without the key, as A1111 refuses a wrong --api-auth', async () => {
    const wrong = await call('GET', '/sdapi/v1/sd-models', undefined, basicAuth('openwebui', 'not-the-key'));
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ error: 'GIRAFFE_ERR_AUTH_REQUIRED', detail: expect.any(String) });
    const none = await call('GET', '/sdapi/v1/sd-models', undefined, '');
    expect(none.status).toBe(401);
  });
});
