import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceSlots, loadPipeline, writeFixtureModel, type Pipeline } from '../../../src/pipeline';

// The device's turns, handed from inference thread to inference thread through
// shared memory (no main-thread round trip between two jobs' session.run calls).
describe('DeviceSlots', () => {
  it('counts its slots: a taker waits while none is free and goes on when one is given back (once)', async () => {
    const slots = DeviceSlots.create(1);
    const leave = await slots.take();
    expect(slots.free).toBe(0);
    let second: (() => void) | undefined;
    const waiting = slots.take().then((l) => (second = l));
    await new Promise((resolve) => setImmediate(resolve));
    expect(second).toBeUndefined();
    leave();
    leave(); // a second call gives nothing back
    await waiting;
    expect(slots.free).toBe(0);
    second!();
    expect(slots.free).toBe(1);
  });

  it('a canceled waiter stops waiting when woken, and takes no slot', async () => {
    const slots = DeviceSlots.create(1);
    const leave = await slots.take();
    const signal = { aborted: false };
    const waiting = slots.take(signal);
    signal.aborted = true;
    slots.wake();
    await expect(waiting).rejects.toMatchObject({ code: 'GIRAFFE_ERR_GENERATION_CANCELED' });
    leave();
    expect(slots.free).toBe(1);
  });
});

describe('inference threads sharing DeviceSlots', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-device-slots-'));
  const pipelines: Pipeline[] = [];

  beforeAll(async () => {
    const dir = path.join(tmp, 'fixture');
    await writeFixtureModel(dir, {});
    pipelines.push(
      await loadPipeline(dir, { intraOpThreads: 1 }),
      await loadPipeline(dir, { intraOpThreads: 1 }),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(pipelines.map((p) => p.close()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const request = (seed: number) => ({
    prompt: 'turns',
    width: 64,
    height: 64,
    steps: 8,
    seed,
    scheduler: 'euler' as const,
  });

  it('two threads with one slot never run steps at the same time, and both finish', async () => {
    const slots = DeviceSlots.create(1);
    const seen: string[] = [];
    const results = await Promise.all(
      pipelines.map((p, i) =>
        p.generate(request(i), {
          deviceSlots: slots,
          onStep: (s) => seen.push(`${i}:${s.step}`),
          onDeviceIdle: () => seen.push(`${i}:idle`),
        }),
      ),
    );
    expect(results.map((r) => r.images.length)).toEqual([1, 1]);
    // One job's steps and its device-idle come as one block, then the other's.
    const owners = seen.map((s) => s.split(':')[0]);
    const switches = owners.filter((o, i) => i > 0 && o !== owners[i - 1]).length;
    expect(switches).toBe(1);
    expect(seen.filter((s) => s.endsWith(':idle'))).toHaveLength(2);
    expect(slots.free).toBe(1);
  }, 60_000);

  it('a job queued on a thread behind another can be canceled before it starts; the other finishes', async () => {
    const [pipeline] = pipelines;
    const abort = new AbortController();
    const first = pipeline.generate(request(1), { onStep: (s) => s.step === 1 && abort.abort() });
    const second = pipeline.generate(request(2), { signal: abort.signal });
    await expect(second).rejects.toMatchObject({ code: 'GIRAFFE_ERR_GENERATION_CANCELED' });
    expect((await first).images).toHaveLength(1);
  }, 60_000);
});
