import { execSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { waitForJob } from '../../src/api/wait-for-job';
import type { JobRecord, ResolvedJobRequest } from '../../src/jobs';
import {
  ensureDemoModel,
  resolveRequest,
  StableDiffusionPipeline,
  type GenerateRequest,
} from '../../src/pipeline';
import { createQueueDriver, type QueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';
import { fingerprintModel } from '../../src/worker/model-fingerprint';

// Every succeeded job carries a reproducibility record; the record alone
// (request, model hash, versions) makes the same image bytes again, through
// the queue or in a fresh pipeline outside the service.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-repro-'));
const logger = pino({ level: 'silent' });
let demoDir: string;
let driver: QueueDriver;
let worker: WorkerService;

beforeAll(async () => {
  demoDir = await ensureDemoModel(path.join(tmp, 'data'));
  driver = createQueueDriver({ dataDir: path.join(tmp, 'data') });
  worker = await WorkerService.start({ driver, models: [{ id: 'demo', dir: demoDir }], logger });
});

afterAll(async () => {
  await worker?.stop(0);
  await driver?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function run(request: ResolvedJobRequest): Promise<{ job: JobRecord; images: Buffer[] }> {
  const queued = await driver.queue.enqueue({ model: 'demo', request });
  const job = await waitForJob(driver, queued.id, 60_000);
  expect(job?.status).toBe('succeeded');
  const images = await Promise.all(
    job!.result!.images.map(async (img) => (await driver.results.get(job!.id, img.index))!.data),
  );
  return { job: job!, images };
}

const resolve = (request: Record<string, unknown>): ResolvedJobRequest =>
  resolveRequest({ width: 64, height: 64, steps: 4, ...request }, { size: 512, scheduler: 'pndm' });

describe('the reproducibility record', () => {
  it('says which model bytes, runtime, scheduler, RNG, request and giraffe made the images', async () => {
    const request = resolve({ prompt: 'a giraffe, record', scheduler: 'euler_a', karras: true, seed: 1234 });
    const { job, images } = await run(request);
    const record = job.result!.reproducibility!;
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8'));
    const ortPkg = JSON.parse(fs.readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as {
      version: string;
    };
    const schedulerConfig = JSON.parse(
      fs.readFileSync(path.join(demoDir, 'scheduler', 'scheduler_config.json'), 'utf8'),
    );
    expect(record).toEqual({
      giraffe_version: pkg.version,
      model: {
        id: 'demo',
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        files: expect.any(Number),
        bytes: expect.any(Number),
        precision: 'float32',
      },
      runtime: {
        onnxruntime_node: ortPkg.version,
        execution_provider: 'cpu',
        device: 'cpu',
        node: process.versions.node,
        platform: process.platform,
        arch: process.arch,
      },
      scheduler: { name: 'euler_a', karras: true, karras_sigmas: true, config: schedulerConfig },
      rng: {
        seed: 1234,
        algorithm: expect.stringContaining('MT19937'),
        initial_noise: expect.stringContaining('float32'),
        step_noise: expect.stringContaining('same stream'),
      },
      request,
      images_sha256: images.map(sha256),
    });
    expect(record.model).toMatchObject(await fingerprintModel(demoDir));
    // The ONNX graphs and weights (vae_encoder included), configs and tokenizer, and the marker: 14 files.
    expect(record.model.files).toBe(14);
  });

  // GNU coreutils and findutils (Linux CI); skipped where they are missing.
  const coreutils = spawnSync('sha256sum', ['--version']).status === 0;
  (coreutils ? it : it.skip)(
    'hashes the model as `sha256sum` over its files, hashed again, so anyone can check it',
    async () => {
      const expected = execSync(
        "find -L . -name '.?*' -prune -o -type f ! -name '*.md' -print | sed 's|^\\./||' | LC_ALL=C sort | " +
          "xargs -d '\\n' sha256sum | sha256sum",
        { cwd: demoDir, encoding: 'utf8', shell: '/bin/bash' },
      ).split(' ')[0];
      expect((await fingerprintModel(demoDir)).sha256).toBe(expected);
    },
  );

  it('re-running the recorded request makes identical bytes, through the queue and in a fresh pipeline', async () => {
    const cases = [
      { prompt: 'stochastic steps', scheduler: 'euler_a', karras: true, seed: 77, num_images: 2 },
      { prompt: 'karras dpm', scheduler: 'dpmpp_2m', karras: true, seed: 4_294_967_295 },
      { prompt: 'latent consistency', scheduler: 'lcm', seed: 0, guidance_scale: 1.5 },
      { prompt: 'the default', output_format: 'webp', seed: 9 },
    ];
    const fresh = await StableDiffusionPipeline.load(demoDir);
    try {
      for (const c of cases) {
        const first = await run(resolve(c));
        const record = first.job.result!.reproducibility!;
        expect(record.images_sha256).toEqual(first.images.map(sha256));
        // Again through the worker, from nothing but the record.
        const again = await run(record.request);
        expect(again.images).toEqual(first.images);
        expect(again.job.result!.reproducibility!.model.sha256).toBe(record.model.sha256);
        // And outside the service, in a pipeline of its own on this thread.
        expect((await fingerprintModel(demoDir)).sha256).toBe(record.model.sha256);
        // The record as stored (its images, if any, are references): the pipeline validates it.
        const output = await fresh.generate(record.request as unknown as GenerateRequest);
        expect(output.images.map(sha256)).toEqual(record.images_sha256);
      }
    } finally {
      await fresh.close();
    }
  });
});

describe('fingerprintModel', () => {
  it('changes when a model file changes, and only then; reads each file once while it is unchanged', async () => {
    const copy = path.join(tmp, 'copy', 'demo');
    fs.cpSync(demoDir, copy, { recursive: true });
    // A model that has sat on disk for a while (hashes of just-written files are never reused).
    const past = new Date(Date.now() - 3_600_000);
    for (const file of fs.readdirSync(copy, { recursive: true, withFileTypes: true }))
      if (file.isFile()) fs.utimesSync(path.join(file.parentPath, file.name), past, past);
    const original = await fingerprintModel(demoDir);
    // Same bytes under another path: the same model.
    expect(await fingerprintModel(copy)).toEqual(original);

    // The fs module object itself (the `import * as` namespace above has fixed getters).
    const reads = jest.spyOn(jest.requireActual<typeof fs>('node:fs'), 'createReadStream');
    try {
      expect(await fingerprintModel(copy)).toEqual(original);
      expect(reads).not.toHaveBeenCalled();

      // Files that cannot change the computation do not change the hash.
      fs.writeFileSync(path.join(copy, 'README.md'), '# notes\n');
      fs.mkdirSync(path.join(copy, '.cache'));
      fs.writeFileSync(path.join(copy, '.cache', 'lock'), 'x');
      expect((await fingerprintModel(copy)).sha256).toBe(original.sha256);

      // One flipped byte in the U-Net's weights does.
      const unet = path.join(copy, 'unet', 'model.onnx');
      const bytes = fs.readFileSync(unet);
      const flipped = Buffer.from(bytes);
      flipped[flipped.length - 1] ^= 1;
      fs.writeFileSync(unet, flipped);
      const changed = await fingerprintModel(copy);
      expect(changed.sha256).not.toBe(original.sha256);
      expect(changed.bytes).toBe(original.bytes);
      expect(reads).toHaveBeenCalledTimes(1);

      // So does a scheduler setting, and an added weights file.
      fs.writeFileSync(unet, bytes);
      expect((await fingerprintModel(copy)).sha256).toBe(original.sha256);
      const configFile = path.join(copy, 'scheduler', 'scheduler_config.json');
      const config = fs.readFileSync(configFile, 'utf8');
      fs.writeFileSync(configFile, config.replace('"steps_offset": 1', '"steps_offset": 0'));
      expect((await fingerprintModel(copy)).sha256).not.toBe(original.sha256);
      fs.writeFileSync(configFile, config);
      fs.writeFileSync(path.join(copy, 'unet', 'model.onnx_data'), Buffer.alloc(16));
      const added = await fingerprintModel(copy);
      expect(added.sha256).not.toBe(original.sha256);
      expect(added.files).toBe(original.files + 1);
    } finally {
      reads.mockRestore();
    }
  });

  it('fails as a model load error when the directory cannot be read', async () => {
    await expect(fingerprintModel(path.join(tmp, 'no-such-model'))).rejects.toMatchObject({
      code: 'GIRAFFE_ERR_MODEL_LOAD_FAILED',
    });
  });
});
