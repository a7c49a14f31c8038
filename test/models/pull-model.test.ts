import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GiraffeError } from '../../src/errors';
import { HubClient, listModels, pullModel, verifyModel, PULLS_DIR, SOURCE_FILE } from '../../src/models';
import { ensureDemoModel } from '../../src/pipeline';
import { FakeHub, readTree } from '../helpers/fake-hub';

// `giraffe models pull` against a local server that serves the demo model the
// way the Hugging Face Hub serves an ONNX export.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-pull-'));
const REPO = 'giraffe-test/sd-demo-onnx';
let demo: Map<string, Buffer>;
/** What a real repository carries beside the export, which a pull must leave alone. */
const extras = new Map<string, Buffer>([
  ['README.md', Buffer.from('# a model card\n')],
  ['unet/diffusion_pytorch_model.safetensors', Buffer.alloc(4096, 7)],
  ['unet/model_fp16.onnx', Buffer.alloc(2048, 3)],
  ['safety_checker/model.onnx', Buffer.alloc(1024, 1)],
  ['feature_extractor/preprocessor_config.json', Buffer.from('{}\n')],
]);
let run = 0;

beforeAll(async () => {
  const demoDir = await ensureDemoModel(path.join(tmp, 'data'));
  demo = readTree(demoDir);
  demo.delete('giraffe.json'); // the demo's own marker: not part of an export
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function withHub(
  files: Map<string, Buffer>,
  fn: (hub: FakeHub, modelsDir: string) => Promise<void>,
  options: { token?: string; pageSize?: number } = {},
): Promise<void> {
  const hub = await FakeHub.start({ repo: REPO, files, ...options });
  const modelsDir = path.join(tmp, `models-${run++}`);
  try {
    await fn(hub, modelsDir);
  } finally {
    await hub.close();
  }
}

const client = (hub: FakeHub, token?: string): HubClient => new HubClient({ endpoint: hub.endpoint, token });

async function pullError(promise: Promise<unknown>): Promise<GiraffeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GiraffeError);
  return err as GiraffeError;
}

it('fetches only the files the pipeline needs, checks them, and installs a model that keeps the contract', async () => {
  await withHub(
    new Map([...demo, ...extras]),
    async (hub, modelsDir) => {
      const progress: number[] = [];
      const result = await pullModel({
        ref: REPO,
        modelsDir,
        hub: client(hub, 'hf_secret'),
        onProgress: ({ doneBytes }) => progress.push(doneBytes),
      });
      expect(result).toMatchObject({ name: 'sd-demo-onnx', commit: hub.commit, revision: 'main' });
      const dir = path.join(modelsDir, 'sd-demo-onnx');
      expect(result.dir).toBe(dir);

      // Every export file arrived byte for byte; nothing else was asked for.
      const pulled = readTree(dir);
      pulled.delete(SOURCE_FILE);
      expect([...pulled.keys()].sort()).toEqual([...demo.keys()].sort());
      for (const [file, content] of demo) expect(pulled.get(file)!.equals(content)).toBe(true);
      for (const extra of extras.keys()) expect(hub.requestsFor(extra)).toEqual([]);
      expect(progress.at(-1)).toBe(result.totalBytes);

      // The token went to the Hub and never to the storage it redirected to.
      const storage = hub.requests.filter((r) => r.server === 'storage');
      expect(storage.length).toBeGreaterThan(0);
      expect(storage.every((r) => r.authorization === undefined)).toBe(true);
      expect(
        hub.requests.filter((r) => r.server === 'hub').every((r) => r.authorization === 'Bearer hf_secret'),
      ).toBe(true);

      const source = JSON.parse(fs.readFileSync(path.join(dir, SOURCE_FILE), 'utf8'));
      expect(source).toMatchObject({ repo: REPO, commit: hub.commit, endpoint: hub.endpoint });
      expect(source.files.find((f: { path: string }) => f.path === 'unet/model.onnx').sha256).toMatch(
        /^[0-9a-f]{64}$/,
      );

      const report = await verifyModel(dir, { checksums: true });
      expect(report.problems).toEqual([]);
      expect(report.contract?.unet.latentChannels).toBe(4);
      expect(listModels(modelsDir)).toEqual([
        expect.objectContaining({ name: 'sd-demo-onnx', status: 'ok' }),
      ]);
    },
    { token: 'hf_secret', pageSize: 4 },
  );
});

it('resumes a transfer the server cut mid-file with a Range request', async () => {
  await withHub(demo, async (hub, modelsDir) => {
    const file = 'text_encoder/model.onnx';
    const size = demo.get(file)!.length;
    hub.cut.set(file, 1);
    await pullModel({ ref: REPO, modelsDir, hub: client(hub), name: 'resumed', retryDelayMs: 10 });
    const transfers = hub.requestsFor(file).filter((r) => r.server === 'storage');
    expect(transfers).toHaveLength(2);
    expect(transfers[0].range).toBeUndefined();
    // The second request asks for the rest, after the bytes the first one delivered.
    const offset = Number(/^bytes=(\d+)-$/.exec(transfers[1].range ?? '')?.[1]);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(size);
    expect(fs.readFileSync(path.join(modelsDir, 'resumed', file)).equals(demo.get(file)!)).toBe(true);
  });
});

it('writes a resumed answer where its range starts when the server sends from earlier than asked', async () => {
  await withHub(demo, async (hub, modelsDir) => {
    const file = 'text_encoder/model.onnx';
    hub.cut.set(file, 1);
    hub.rangeEarlier.set(file, 100);
    const progress: { doneBytes: number; totalBytes: number }[] = [];
    await pullModel({
      ref: REPO,
      modelsDir,
      hub: client(hub),
      name: 'overlap',
      retryDelayMs: 10,
      onProgress: (p) => progress.push(p),
    });
    const transfers = hub.requestsFor(file).filter((r) => r.server === 'storage');
    expect(transfers).toHaveLength(2);
    expect(transfers[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(fs.readFileSync(path.join(modelsDir, 'overlap', file)).equals(demo.get(file)!)).toBe(true);
    // The 100 bytes sent twice are counted once: progress ends at the total, never past it.
    const { totalBytes } = progress[0];
    expect(progress.at(-1)?.doneBytes).toBe(totalBytes);
    expect(Math.max(...progress.map((p) => p.doneBytes))).toBe(totalBytes);
  });
});

it('resumes across runs: a second pull keeps finished files and continues the partial one', async () => {
  await withHub(demo, async (hub, modelsDir) => {
    const file = 'unet/model.onnx';
    // Half of it arrives, then its storage answers 503 until the test says otherwise.
    hub.cut.set(file, 1);
    hub.downAfterCut.add(file);
    const err = await pullError(
      pullModel({ ref: REPO, modelsDir, hub: client(hub), name: 'later', maxAttempts: 2, retryDelayMs: 5 }),
    );
    expect(err.code).toBe('GIRAFFE_ERR_HUB_UNAVAILABLE');
    expect(fs.existsSync(path.join(modelsDir, 'later'))).toBe(false);
    expect(listModels(modelsDir)).toEqual([expect.objectContaining({ name: 'later', status: 'partial' })]);
    const partial = fs.statSync(path.join(modelsDir, PULLS_DIR, 'later', 'unet', 'model.onnx.part')).size;
    expect(partial).toBeGreaterThan(0);

    hub.down.clear();
    const before = hub.requests.length;
    const earlierTransfers = hub.requestsFor(file).length;
    await pullModel({ ref: REPO, modelsDir, hub: client(hub), name: 'later' });
    const second = hub.requests.slice(before);
    // The finished files were checked on disk, not fetched again; the cut one resumed where it stopped.
    expect(second.filter((r) => r.path.includes('text_encoder/model.onnx'))).toEqual([]);
    const resumed = hub
      .requestsFor(file)
      .slice(earlierTransfers)
      .filter((r) => r.server === 'storage');
    expect(resumed).toHaveLength(1);
    expect(resumed[0].range).toBe(`bytes=${partial}-`);
    expect(fs.readFileSync(path.join(modelsDir, 'later', file)).equals(demo.get(file)!)).toBe(true);
    expect(fs.existsSync(path.join(modelsDir, PULLS_DIR, 'later'))).toBe(false);
  });
});

it('rejects a file whose sha256 differs from the Hub’s metadata, and installs nothing', async () => {
  await withHub(demo, async (hub, modelsDir) => {
    hub.wrongSha.add('vae_decoder/model.onnx');
    const err = await pullError(pullModel({ ref: REPO, modelsDir, hub: client(hub), name: 'bad' }));
    expect(err.code).toBe('GIRAFFE_ERR_MODEL_CHECKSUM_MISMATCH');
    expect(err.message).toContain('vae_decoder');
    expect(err.message).toMatch(/sha256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
    expect(fs.existsSync(path.join(modelsDir, 'bad'))).toBe(false);
    expect(fs.existsSync(path.join(modelsDir, PULLS_DIR, 'bad', 'vae_decoder', 'model.onnx.part'))).toBe(
      false,
    );
  });
});

it('answers gated, missing and non-ONNX repositories with their own codes, before fetching weights', async () => {
  await withHub(
    demo,
    async (hub, modelsDir) => {
      expect((await pullError(pullModel({ ref: REPO, modelsDir, hub: client(hub) }))).code).toBe(
        'GIRAFFE_ERR_HUB_UNAUTHORIZED',
      );
      expect(
        (await pullError(pullModel({ ref: REPO, modelsDir, hub: client(hub, 'wrong') }))).message,
      ).toMatch(/HF_TOKEN was sent but does not grant access/);
      const missing = await pullError(
        pullModel({ ref: 'nobody/nothing', modelsDir, hub: client(hub, 'tok') }),
      );
      expect(missing.code).toBe('GIRAFFE_ERR_HUB_NOT_FOUND');
      const badRev = await pullError(pullModel({ ref: `${REPO}@v9`, modelsDir, hub: client(hub, 'tok') }));
      expect(badRev.code).toBe('GIRAFFE_ERR_HUB_NOT_FOUND');
      const sub = await pullError(
        pullModel({ ref: REPO, modelsDir, hub: client(hub, 'tok'), subfolder: 'onnx' }),
      );
      expect(sub.code).toBe('GIRAFFE_ERR_MODEL_NOT_A_PIPELINE');
      expect(hub.requests.filter((r) => r.server === 'storage')).toEqual([]);
    },
    { token: 'tok' },
  );
  const noUnet = new Map([...demo].filter(([file]) => !file.startsWith('unet/')));
  await withHub(noUnet, async (hub, modelsDir) => {
    const err = await pullError(pullModel({ ref: REPO, modelsDir, hub: client(hub) }));
    expect(err.code).toBe('GIRAFFE_ERR_MODEL_NOT_A_PIPELINE');
    expect(err.message).toContain('unet/model.onnx');
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
  });
});

it('pulls an export kept in a subfolder, pinned to a commit, and refuses to overwrite without force', async () => {
  const nested = new Map([...demo].map(([file, content]) => [`onnx/${file}`, content]));
  await withHub(nested, async (hub, modelsDir) => {
    const ref = `${REPO}@${hub.commit}`;
    await pullModel({ ref, modelsDir, hub: client(hub), subfolder: 'onnx', name: 'nested' });
    expect((await verifyModel(path.join(modelsDir, 'nested'), { load: false })).problems).toEqual([]);
    const again = await pullError(
      pullModel({ ref, modelsDir, hub: client(hub), subfolder: 'onnx', name: 'nested' }),
    );
    expect(again.code).toBe('GIRAFFE_ERR_MODEL_EXISTS');
    fs.writeFileSync(path.join(modelsDir, 'nested', 'stale.txt'), 'from before');
    await pullModel({ ref, modelsDir, hub: client(hub), subfolder: 'onnx', name: 'nested', force: true });
    expect(fs.existsSync(path.join(modelsDir, 'nested', 'stale.txt'))).toBe(false);
    expect(fs.readdirSync(path.join(modelsDir, PULLS_DIR))).toEqual([]);
  });
});
