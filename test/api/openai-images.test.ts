import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from 'openai';
import sharp from 'sharp';
import type { QueueDriver } from '../../src/queue';
import { startDemoService, type DemoService } from '../helpers/demo-service';

// The real `openai` SDK against a listening giraffe (memory driver, a real
// worker on the demo model): what an unchanged OpenAI client sees.
const KEY = 'openai-key-0123456789';
let service: DemoService;
let app: FastifyInstance;
let driver: QueueDriver;
let baseURL: string;
let client: OpenAI;

beforeAll(async () => {
  service = await startDemoService({ env: { API_KEYS: KEY, OPENAI_MODEL_ALIASES: 'gpt-image-1=demo' } });
  ({ app, driver } = service);
  await app.listen({ port: 0, host: '127.0.0.1' });
  baseURL = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`;
  // No retries: a test that expects an error must see the first answer.
  client = new OpenAI({ baseURL, apiKey: KEY, maxRetries: 0 });
});

afterAll(async () => {
  await service?.close();
});

type GenerateParams = OpenAI.Images.ImageGenerateParamsNonStreaming;
/** The SDK's types know neither our sizes nor giraffe's extension fields; the wire does. */
const params = (body: Record<string, unknown>): GenerateParams => body as unknown as GenerateParams;
const fast = { prompt: 'a giraffe reading a newspaper', size: '64x64', steps: 2 };

describe('POST /v1/images/generations through the openai SDK', () => {
  it('returns n base64 PNGs of the requested size', async () => {
    const res = await client.images.generate(params({ ...fast, n: 2, response_format: 'b64_json' }));
    expect(res).toMatchObject({ created: expect.any(Number), output_format: 'png', size: '64x64' });
    expect(Math.abs(res.created - Date.now() / 1000)).toBeLessThan(120);
    expect(res.data).toHaveLength(2);
    for (const image of res.data ?? []) {
      expect(image.url).toBeUndefined();
      const meta = await sharp(Buffer.from(image.b64_json ?? '', 'base64')).metadata();
      expect(meta).toMatchObject({ format: 'png', width: 64, height: 64 });
    }
  });

  it('returns absolute URLs (the default) that serve the images to the same key', async () => {
    const { data: res, response } = await client.images
      .generate(
        params({ ...fast, model: 'gpt-image-1', quality: 'hd', style: 'vivid', output_format: 'webp' }),
      )
      .withResponse();
    const jobId = response.headers.get('x-giraffe-job-id');
    expect(res.data).toEqual([{ url: `${baseURL}/jobs/${jobId}/images/0` }]);
    expect(res.output_format).toBe('webp');
    const image = await fetch(res.data?.[0].url ?? '', { headers: { authorization: `Bearer ${KEY}` } });
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/webp');
    const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: 64, height: 64 });
    expect((await fetch(res.data?.[0].url ?? '')).status).toBe(401);
  });

  it('passes giraffe extensions through: the same seed gives the same bytes', async () => {
    const seeded = params({ ...fast, seed: 1234, negative_prompt: 'blurry', response_format: 'b64_json' });
    const first = await client.images.generate(seeded).withResponse();
    const again = await client.images.generate(seeded);
    const other = await client.images.generate({ ...seeded, seed: 99 } as GenerateParams);
    expect(first.response.headers.get('x-giraffe-seed')).toBe('1234');
    expect(again.data?.[0].b64_json).toBe(first.data.data?.[0].b64_json);
    expect(other.data?.[0].b64_json).not.toBe(first.data.data?.[0].b64_json);
  });

  it.each([
    ['a size that is not a multiple of 8', { ...fast, size: '100x100' }, 'size', 'invalid_value'],
    ['a size above the bounds', { ...fast, size: '4096x4096' }, 'size', 'invalid_value'],
    ['an unknown field', { ...fast, colour: 'red' }, 'colour', 'unknown_parameter'],
    ['a missing prompt', { size: '64x64' }, 'prompt', 'missing_required_parameter'],
    ['n above our limit', { ...fast, n: 9 }, 'n', 'invalid_value'],
    ['a mistyped OpenAI option', { ...fast, quality: 7 }, 'quality', 'invalid_value'],
    ['a giraffe extension out of range', { ...fast, steps: 1000 }, 'steps', 'invalid_value'],
    ['a streaming request', { ...fast, stream: true }, 'stream', 'invalid_value'],
  ])('%s raises BadRequestError naming the param', async (_name, body, param, code) => {
    const before = await driver.queue.depth();
    const error = await client.images.generate(params(body)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, param, code, type: 'invalid_request_error' });
    expect(await driver.queue.depth()).toBe(before);
  });

  it('a model we do not serve raises NotFoundError', async () => {
    const error = await client.images.generate(params({ ...fast, model: 'sdxl' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ param: 'model', code: 'model_not_found' });
  });

  // Issue 17, item 19: `dall-e-3` used to run silently on the default model. Only the documented
  // aliases (OPENAI_MODEL_ALIASES; here gpt-image-1) map; any other OpenAI name is OpenAI's 404.
  it('an OpenAI model name without an alias raises NotFoundError and queues nothing', async () => {
    const before = await driver.queue.depth();
    const error = await client.images
      .generate(params({ ...fast, model: 'dall-e-3' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ status: 404, param: 'model', code: 'model_not_found' });
    expect((error as Error).message).toMatch(/dall-e-3/);
    expect(await driver.queue.depth()).toBe(before);
  });

  it('a wrong key raises AuthenticationError', async () => {
    const wrong = new OpenAI({ baseURL, apiKey: 'not-a-key', maxRetries: 0 });
    const error = await wrong.images.generate(params(fast)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
  });

  it('a job canceled while the client waits raises BadRequestError with the reason', async () => {
    const prompt = 'a long job that will be canceled';
    const pending = client.images
      .generate(params({ prompt, size: '512x512', steps: 150 }))
      .catch((e: unknown) => e);
    let jobId: string | undefined;
    while (!jobId) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      jobId = (await driver.queue.list()).find((j) => j.request.prompt === prompt)?.id;
    }
    await driver.queue.cancel(jobId);
    const error = await pending;
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ code: 'GIRAFFE_ERR_GENERATION_CANCELED' });
    expect((error as BadRequestError).headers.get('x-giraffe-job-id')).toBe(jobId);
  });
});

describe('the error envelope on the wire', () => {
  const post = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) =>
    fetch(`${baseURL}/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('is OpenAI JSON, not problem+json, for validation and auth errors', async () => {
    const bad = await post({ prompt: 'x', size: '100x100' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await bad.json()).toEqual({
      error: {
        message:
          'Invalid \'size\': must be "auto" or "WIDTHxHEIGHT" with sides that are multiples of 8 ' +
          'from 64 to 2048 (got "100x100")',
        type: 'invalid_request_error',
        param: 'size',
        code: 'invalid_value',
      },
    });

    const anonymous = await post({ prompt: 'x' }, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    expect(await anonymous.json()).toEqual({
      error: {
        message: 'send an API key as "Authorization: Bearer <key>"',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    });

    const malformed = await fetch(`${baseURL}/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: '{"prompt": ',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({
      error: { type: 'invalid_request_error', param: null, code: 'invalid_json' },
    });

    const other = await fetch(`${baseURL}/images/variations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
    });
    // Routes the OpenAI SDK knows but giraffe does not serve answer in the same envelope.
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'not_found' } });

    // The rest of the API keeps problem+json.
    const elsewhere = await fetch(`${baseURL}/generate`, { method: 'POST' });
    expect(elsewhere.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

// Issue 17, item 19: `models.list()` of the SDK read `data` from GET /v1/models, which had none.
describe('GET /v1/models through the openai SDK', () => {
  it('lists the served models and the aliases of served models', async () => {
    const page = await client.models.list();
    expect(page.data).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'demo', object: 'model', owned_by: 'giraffe' }),
        expect.objectContaining({ id: 'gpt-image-1', object: 'model', alias_of: 'demo' }),
      ]),
    );
    expect(page.data.map((m) => m.id)).not.toContain('dall-e-3');
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(page.data.map((m) => m.id));
  });
});
