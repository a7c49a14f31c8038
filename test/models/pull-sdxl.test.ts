import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GiraffeError } from '../../src/errors';
import { HubClient, pullModel, SOURCE_FILE, verifyModel, type PullPlan } from '../../src/models';
import { StableDiffusionPipeline, writeFixtureModel } from '../../src/pipeline';
import { FakeHub, readTree } from '../helpers/fake-hub';

// `models pull` of SDXL-layout repositories from a local stand-in for the Hub:
// it reads model_index.json first, fetches the external data each graph
// names whatever it is called, and refuses what it cannot run early.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-pull-sdxl-'));
const REPO = 'giraffe-test/sdxl-onnx';
const UNUSUAL = 'weights-shard.bin.dat';
let sdxl: Map<string, Buffer>;
let run = 0;

beforeAll(async () => {
  const dir = path.join(tmp, 'source');
  await writeFixtureModel(dir, {
    family: 'sdxl',
    idsType: 'int64',
    timestep: 'float-scalar',
    externalData: UNUSUAL,
  });
  sdxl = readTree(dir);
  sdxl.delete('giraffe.json');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function withHub(
  files: Map<string, Buffer>,
  fn: (hub: FakeHub, modelsDir: string) => Promise<void>,
  revisions?: string[],
): Promise<void> {
  const hub = await FakeHub.start({ repo: REPO, files, revisions });
  try {
    await fn(hub, path.join(tmp, `models-${run++}`));
  } finally {
    await hub.close();
  }
}

/** What real repositories carry beside the export: alternatives and PyTorch weights a pull must leave alone. */
const distractors = new Map<string, Buffer>([
  ['unet/model_fp16.onnx', Buffer.alloc(3000, 1)],
  ['unet/model_fp16.onnx_data', Buffer.alloc(300_000, 2)],
  ['unet/model.onnx_data', Buffer.alloc(200_000, 3)],
  ['unet/diffusion_pytorch_model.safetensors', Buffer.alloc(400_000, 4)],
  ['vae_1_0/diffusion_pytorch_model.safetensors', Buffer.alloc(10_000, 5)],
]);

it('pulls an SDXL-layout export whose graphs keep their weights under an unusual name, at refs/pr/N, and it loads', async () => {
  expect(sdxl.has(`unet/${UNUSUAL}`)).toBe(true);
  await withHub(
    new Map([...sdxl, ...distractors]),
    async (hub, modelsDir) => {
      hub.cut.set(`unet/${UNUSUAL}`, 1); // one interrupted transfer: the pull resumes it
      let planned: { plan: PullPlan; weightRequests: number } | undefined;
      const result = await pullModel({
        ref: REPO,
        revision: 'refs/pr/2',
        modelsDir,
        hub: new HubClient({ endpoint: hub.endpoint }),
        retryDelayMs: 10,
        onPlan: (plan) => {
          planned = { plan, weightRequests: hub.requestsFor(`unet/${UNUSUAL}`).length };
        },
      });
      expect(result).toMatchObject({ revision: 'refs/pr/2', commit: hub.commit });
      // The plan, with its total, came before any weight was asked for.
      expect(planned?.weightRequests).toBe(0);
      const expectedBytes = [...sdxl.values()].reduce((n, b) => n + b.length, 0);
      expect(planned?.plan.totalBytes).toBe(expectedBytes);

      const pulled = readTree(result.dir);
      pulled.delete(SOURCE_FILE);
      expect([...pulled.keys()].sort()).toEqual([...sdxl.keys()].sort());
      for (const [file, content] of sdxl) expect(pulled.get(file)!.equals(content)).toBe(true);
      for (const extra of distractors.keys()) expect(hub.requestsFor(extra)).toEqual([]);
      expect(hub.requestsFor(`unet/${UNUSUAL}`).some((r) => r.range !== undefined)).toBe(true);

      // `models verify` opens all four graphs, the second text encoder included.
      const report = await verifyModel(result.dir, { checksums: true });
      expect(report.problems).toEqual([]);
      expect(report.contract?.textEncoder2).toMatchObject({ pooledOutput: 'text_embeds' });

      const pipeline = await StableDiffusionPipeline.load(result.dir);
      try {
        expect(pipeline.model.contract.textEncoder2).toBeDefined();
        const image = await pipeline.generate({ prompt: 'a giraffe', steps: 1, seed: 1 });
        expect(image.images).toHaveLength(1);
      } finally {
        await pipeline.close();
      }
    },
    ['refs/pr/2'],
  );
});

it('refuses a revision the repository does not have', async () => {
  await withHub(sdxl, async (hub, modelsDir) => {
    const err = await pullModel({
      ref: REPO,
      revision: 'refs/pr/9',
      modelsDir,
      hub: new HubClient({ endpoint: hub.endpoint }),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'GIRAFFE_ERR_HUB_NOT_FOUND' });
  });
});

/** A model_index.json and unet/config.json over the SDXL fixture, with large weights beside them. */
function repository(
  modelIndex: Record<string, unknown>,
  unetConfig?: Record<string, unknown>,
): Map<string, Buffer> {
  const files = new Map(sdxl);
  files.set('model_index.json', Buffer.from(JSON.stringify(modelIndex)));
  if (unetConfig) files.set('unet/config.json', Buffer.from(JSON.stringify(unetConfig)));
  files.set('transformer/model.onnx', Buffer.alloc(500_000, 1));
  files.set(`unet/${UNUSUAL}`, Buffer.alloc(3_000_000, 2));
  return files;
}

const component = (cls: string): [string, string] => ['diffusers', cls];
const sdxlIndex: Record<string, unknown> = {
  _class_name: 'StableDiffusionXLPipeline',
  scheduler: component('EulerDiscreteScheduler'),
  text_encoder: component('CLIPTextModel'),
  text_encoder_2: component('CLIPTextModelWithProjection'),
  tokenizer: component('CLIPTokenizer'),
  tokenizer_2: component('CLIPTokenizer'),
  unet: component('UNet2DConditionModel'),
  vae: component('AutoencoderKL'),
};

it.each([
  [
    'a pipeline class it does not know (SD3)',
    {
      ...sdxlIndex,
      _class_name: 'StableDiffusion3Pipeline',
      transformer: component('SD3Transformer2DModel'),
    },
    undefined,
    /pipeline class is "StableDiffusion3Pipeline"/,
  ],
  [
    'a component of another architecture',
    { ...sdxlIndex, transformer: component('FluxTransformer2DModel') },
    undefined,
    /lists "transformer"/,
  ],
  [
    'an SDXL refiner (no first text encoder)',
    { ...sdxlIndex, _class_name: 'StableDiffusionXLImg2ImgPipeline', text_encoder: [null, null] },
    undefined,
    /lists no "text_encoder"/,
  ],
  [
    'a U-Net with 8 input channels',
    sdxlIndex,
    { _class_name: 'UNet2DConditionModel', in_channels: 8, sample_size: 128 },
    /U-Net takes 8 input channels/,
  ],
])('refuses %s after downloading less than 1 MB', async (_what, index, unetConfig, message) => {
  await withHub(repository(index, unetConfig), async (hub, modelsDir) => {
    const err = await pullModel({
      ref: REPO,
      modelsDir,
      hub: new HubClient({ endpoint: hub.endpoint }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GiraffeError);
    expect(err).toMatchObject({ code: 'GIRAFFE_ERR_MODEL_UNSUPPORTED' });
    expect((err as Error).message).toMatch(message);
    expect(hub.bytesRequested()).toBeLessThan(1_000_000);
    expect(hub.requestsFor(`unet/${UNUSUAL}`)).toEqual([]);
    expect(fs.existsSync(path.join(modelsDir, 'sdxl-onnx'))).toBe(false);
  });
});
