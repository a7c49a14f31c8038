import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { gradientPng } from '../helpers/edit-images';
import { describeWithShared, sharedPath } from '../helpers/shared';

// `GET /v1/models` says which modes each model supports, and why not, from
// the model directories alone (no worker here): whether a vae_encoder exists,
// and the U-Net's input channels read from the ONNX file's header.
const e2e2 = (...parts: string[]): string => sharedPath('goldens', 'e2e2', ...parts);

interface ListedModel {
  readonly id: string;
  readonly modes?: string[];
  readonly modes_unsupported?: Record<string, string>;
  readonly unet_in_channels?: number;
}

describeWithShared(['goldens', 'e2e2', 'inpaint-diffusers'], 'GET /v1/models modes', () => {
  let svc: DemoService;

  beforeAll(async () => {
    svc = await startDemoService({
      worker: false,
      models: {
        img2img: e2e2('img2img-diffusers'),
        inpaint: e2e2('inpaint-diffusers'),
        vpred: e2e2('sd2v-diffusers'),
        sdxl: e2e2('sdxl-optimum'),
      },
    });
  });

  afterAll(async () => {
    await svc?.close();
  });

  it('lists each model’s modes and the reasons for the others', async () => {
    const listed = (await svc.app.inject({ method: 'GET', url: '/v1/models' })).json();
    const byId = Object.fromEntries((listed.models as ListedModel[]).map((m) => [m.id, m]));
    expect(byId.img2img).toMatchObject({
      modes: ['text-to-image', 'image-to-image', 'inpainting'],
      modes_unsupported: {},
      unet_in_channels: 4,
    });
    expect(byId.inpaint).toMatchObject({ modes: ['inpainting'], unet_in_channels: 9 });
    expect(byId.inpaint.modes_unsupported?.['text-to-image']).toMatch(/9-channel inpainting U-Net/);
    expect(byId.inpaint.modes_unsupported?.['image-to-image']).toMatch(/mask_image/);
    for (const id of ['vpred', 'sdxl']) {
      expect(byId[id]).toMatchObject({ modes: ['text-to-image'], unet_in_channels: 4 });
      expect(byId[id].modes_unsupported?.['image-to-image']).toMatch(/no vae_encoder/);
      expect(byId[id].modes_unsupported?.inpainting).toMatch(/no vae_encoder/);
    }
  });

  it('refuses what a model cannot do before anything is queued, naming what is missing', async () => {
    const png = await gradientPng(64, 64);
    const edit = await svc.app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'x', model: 'sdxl', image: png.toString('base64') },
    });
    expect(edit.statusCode).toBe(400);
    expect(edit.json()).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED' });
    expect(edit.json().detail).toMatch(/cannot do image-to-image: .*vae_encoder/);
    const textOnly = await svc.app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'x', model: 'inpaint' },
    });
    expect(textOnly.statusCode).toBe(400);
    expect(textOnly.json().detail).toMatch(/cannot do text-to-image: .*needs `image` and `mask_image`/);
    expect(await svc.driver.queue.depth()).toBe(0);
  });

  it('the API process reads the modes without loading onnxruntime', async () => {
    // A fresh process (jest's module registry would hide what Node itself loads).
    const script = `
      const { buildApp } = require('./dist/api');
      const { loadConfig } = require('./dist/config');
      const { createQueueDriver } = require('./dist/queue');
      const pino = require('pino');
      (async () => {
        const config = loadConfig({ DATA_DIR: require('os').tmpdir() + '/giraffe-modes-' + process.pid, LOG_LEVEL: 'silent' });
        const driver = createQueueDriver({});
        const app = await buildApp({ config, driver, logger: pino({ level: 'silent' }),
          extraModels: { inpaint: ${JSON.stringify(e2e2('inpaint-diffusers'))} } });
        const res = await app.inject({ method: 'GET', url: '/v1/models' });
        const loaded = Object.keys(require.cache).filter((f) => f.includes('onnxruntime'));
        console.log(JSON.stringify({ status: res.statusCode, modes: res.json().models[0].modes, loaded }));
        await app.close(); await driver.close();
      })();`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
      cwd: path.resolve(__dirname, '..', '..'),
    });
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(out.status).toBe(200);
    expect(out.loaded).toEqual([]);
    expect(out.modes).toEqual(['inpainting']);
  }, 60_000);
});
