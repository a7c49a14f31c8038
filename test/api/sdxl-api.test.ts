import { compareWithReference, e2e2Cases, e2e2ModelDir, e2e2Request } from '../helpers/golden-cases';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { describeWithShared } from '../helpers/shared';

// The SDXL golden case through the whole service: HTTP request, queue, worker
// thread, PNG result. The tiny sdxl-optimum model is served beside the demo.
describeWithShared(['goldens', 'e2e2', 'cases.json'], 'SDXL through the HTTP API', () => {
  const [c] = e2e2Cases('sdxl');
  let service: DemoService;

  beforeAll(async () => {
    service = await startDemoService({ models: { sdxl: e2e2ModelDir(c) } });
  }, 60_000);
  afterAll(async () => {
    await service?.close();
  });

  it(`${c.name} matches the reference image`, async () => {
    const { app } = service;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/generate?wait=true&timeout=120',
      payload: { ...e2e2Request(c), model: 'sdxl' },
    });
    expect(res.statusCode).toBe(200);
    const job = res.json();
    expect(job).toMatchObject({ status: 'succeeded', model: 'sdxl' });
    const img = await app.inject({ method: 'GET', url: job.result.images[0].url });
    expect(img.statusCode).toBe(200);
    const diff = await compareWithReference(img.rawPayload, c);
    expect(diff.size).toEqual(diff.refSize);
    expect(diff.fractionOver).toBeLessThanOrEqual(0.02);
  });

  it("lists the model's own default size (U-Net sample_size × 8) and uses it when a request names none", async () => {
    const { app } = service;
    const listed = (await app.inject({ method: 'GET', url: '/v1/models' })).json();
    const sdxl = (listed.models as { id: string; defaults: { width: number; height: number } }[]).find(
      (m) => m.id === 'sdxl',
    );
    // unet/config.json: sample_size 32 → 256 px; the demo model's is 512.
    expect(sdxl?.defaults).toMatchObject({ width: 256, height: 256 });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/generate?wait=true&timeout=120',
      payload: { prompt: 'a giraffe', model: 'sdxl', steps: 2, seed: 1 },
    });
    expect(res.json()).toMatchObject({ status: 'succeeded', result: { width: 256, height: 256 } });
  });

  it('takes SDXL size conditioning and refuses a malformed one with a 400', async () => {
    const { app } = service;
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/generate?wait=true&timeout=120',
      payload: {
        prompt: 'a giraffe',
        model: 'sdxl',
        steps: 2,
        seed: 1,
        width: 64,
        height: 64,
        original_size: [1024, 1024],
        crops_coords_top_left: [0, 0],
        target_size: [1024, 1024],
      },
    });
    expect(ok.json()).toMatchObject({ status: 'succeeded', request: { original_size: [1024, 1024] } });
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      payload: { prompt: 'a giraffe', model: 'sdxl', original_size: [1024] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'GIRAFFE_ERR_REQUEST_INVALID' });
  });
});
