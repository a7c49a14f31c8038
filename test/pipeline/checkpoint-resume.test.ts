import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  schedulerNames,
  StableDiffusionPipeline,
  writeDemoModel,
  type DenoiseCheckpoint,
} from '../../src';
import { isGiraffeError } from '../../src/errors';

// A resumed run must end with the bytes of an uninterrupted one: for every scheduler
// (Euler a draws noise every step; PNDM and DPM++ keep history), with Karras sigmas,
// from a checkpoint taken mid-run and carried through its byte encoding.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-checkpoint-'));
let pipeline: StableDiffusionPipeline;

const base = { prompt: 'a giraffe made of clouds', seed: 7, steps: 8, width: 64, height: 64 };

beforeAll(async () => {
  const dir = path.join(tmp, 'demo');
  await writeDemoModel(dir);
  pipeline = await StableDiffusionPipeline.load(dir);
});

afterAll(async () => {
  await pipeline?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cases = [
  ...schedulerNames.map((scheduler) => ({ scheduler, karras: false })),
  { scheduler: 'euler_a' as const, karras: true },
  { scheduler: 'dpmpp_2m' as const, karras: true },
];

describe.each(cases)('resuming $scheduler (karras: $karras)', ({ scheduler, karras }) => {
  it('ends with the bytes of the uninterrupted run, from any step', async () => {
    const request = { ...base, scheduler, karras, steps: scheduler === 'lcm' ? 4 : base.steps };
    const saved: DenoiseCheckpoint[] = [];
    const whole = await pipeline.generate(request, {
      checkpoint: { intervalMs: 0, save: (cp) => saved.push(cp) },
    });
    expect(whole.resumed_from_step).toBe(0);
    // A checkpoint after every step but the last; checkpoints count U-Net calls, progress the
    // requested steps: PNDM's first step takes two calls (its warm-up), so it has no checkpoint
    // after call 1 and each step s after it ends with call s + 1.
    const calls = whole.timings.unet_calls;
    const extra = calls - request.steps;
    expect(saved.map((cp) => cp.step)).toEqual(
      Array.from({ length: request.steps - 1 }, (_, i) => i + 1 + extra),
    );
    for (const cp of [saved[0], saved[Math.floor(saved.length / 2)], saved[saved.length - 1]]) {
      const resumedSteps: number[] = [];
      const resumed = await pipeline.generate(request, {
        resumeFrom: decodeCheckpoint(encodeCheckpoint(cp)),
        onStep: (p) => resumedSteps.push(p.step),
      });
      expect(resumed.resumed_from_step).toBe(cp.step - extra);
      // Progress continues where the checkpoint stopped; it never jumps back.
      expect(resumedSteps[0]).toBe(cp.step - extra + 1);
      expect(resumedSteps.at(-1)).toBe(request.steps);
      expect(resumed.images[0].equals(whole.images[0])).toBe(true);
    }
  });
});

describe('checkpoints', () => {
  it('are ignored when they belong to another request, and the run starts over', async () => {
    const saved: DenoiseCheckpoint[] = [];
    const whole = await pipeline.generate(
      { ...base, scheduler: 'euler' },
      { checkpoint: { intervalMs: 0, save: (cp) => saved.push(cp) } },
    );
    const other = await pipeline.generate({ ...base, scheduler: 'euler', seed: 8 }, { resumeFrom: saved[2] });
    expect(other.resumed_from_step).toBe(0);
    const again = await pipeline.generate({ ...base, scheduler: 'euler' }, { resumeFrom: saved[2] });
    expect(again.images[0].equals(whole.images[0])).toBe(true);
  });

  it('are taken when a run is canceled between steps, and resume it', async () => {
    const request = { ...base, scheduler: 'pndm' as const };
    const whole = await pipeline.generate(request);
    const controller = new AbortController();
    const saved: DenoiseCheckpoint[] = [];
    const stopped = await pipeline
      .generate(request, {
        signal: controller.signal,
        // Never due by time: only the cancel takes one.
        checkpoint: { intervalMs: 3_600_000, save: (cp) => saved.push(cp) },
        onStep: (p) => p.step === 3 && controller.abort(),
      })
      .catch((err: unknown) => err);
    expect(isGiraffeError(stopped, 'GIRAFFE_ERR_GENERATION_CANCELED')).toBe(true);
    // Step 3 of PNDM ends with its 4th U-Net call (its first step takes two).
    expect(saved.map((cp) => cp.step)).toEqual([4]);
    const resumed = await pipeline.generate(request, { resumeFrom: saved[0] });
    expect(resumed.resumed_from_step).toBe(3);
    expect(resumed.images[0].equals(whole.images[0])).toBe(true);
  });

  it('refuse bytes that are not a checkpoint', () => {
    expect(() => decodeCheckpoint(Buffer.from('not a checkpoint at all'))).toThrow(
      expect.objectContaining({ code: 'GIRAFFE_ERR_CHECKPOINT_INVALID' }),
    );
    const saved = encodeCheckpoint({
      key: 'k',
      step: 1,
      steps: 2,
      latents: new Float32Array(16),
      scheduler: { index: 1 },
      rng: { key: new Uint32Array(624), pos: 3, hasGauss: false, cachedGaussian: 0 },
    });
    expect(() => decodeCheckpoint(saved.subarray(0, saved.length - 8))).toThrow(
      expect.objectContaining({ code: 'GIRAFFE_ERR_CHECKPOINT_INVALID' }),
    );
  });
});
