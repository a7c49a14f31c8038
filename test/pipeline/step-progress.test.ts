import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createScheduler,
  ensureDemoModel,
  loadPipeline,
  readModelDirectory,
  type Pipeline,
  type StepProgress,
} from '../../src';
import { stepOfCall } from '../../src/pipeline/stages/denoise';

// Progress counts the steps the request asked for: PNDM calls the U-Net once more than that
// (its PLMS warm-up), and used to report 21/21 for 20 steps. Timings keep counting the calls.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-step-progress-'));
let pipeline: Pipeline;
let dir: string;

beforeAll(async () => {
  dir = await ensureDemoModel(tmp);
  pipeline = await loadPipeline(dir);
}, 120_000);

afterAll(async () => {
  await pipeline?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function run(scheduler: 'pndm' | 'euler' | 'ddim', steps: number) {
  const seen: StepProgress[] = [];
  const result = await pipeline.generate(
    { prompt: 'a giraffe', width: 64, height: 64, seed: 3, steps, scheduler },
    { onStep: (p) => seen.push(p) },
  );
  return { seen, result };
}

it.each([
  ['pndm', 20],
  ['pndm', 4],
  ['ddim', 6],
  ['euler', 5],
] as const)(
  '%s at %i steps reports each requested step once, 1 … steps of steps',
  async (scheduler, steps) => {
    const { seen, result } = await run(scheduler, steps);
    expect(seen.map((p) => p.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    expect(new Set(seen.map((p) => p.steps))).toEqual(new Set([steps]));
    // The U-Net calls are all still accounted for, in timings and in the steps' own timesteps.
    const s = createScheduler(scheduler, readModelDirectory(dir).schedulerConfig);
    s.setTimesteps(steps);
    expect(seen.flatMap((p) => p.unetTimesteps)).toEqual(Array.from(s.timesteps));
    expect(result.timings.unet_calls).toBe(s.timesteps.length);
    if (scheduler === 'pndm') expect(result.timings.unet_calls).toBe(steps + 1);
  },
);

it('puts PNDM’s warm-up call (which redoes the first step) into step 1', async () => {
  const { seen } = await run('pndm', 4);
  expect(seen[0].unetTimesteps).toHaveLength(2);
  expect(seen.slice(1).every((p) => p.unetTimesteps.length === 1)).toBe(true);
});

it('stepOfCall spreads the calls over the steps and ends on the last step', () => {
  expect(Array.from({ length: 5 }, (_, i) => stepOfCall(i, 5, 4))).toEqual([1, 1, 2, 3, 4]);
  expect(Array.from({ length: 4 }, (_, i) => stepOfCall(i, 4, 4))).toEqual([1, 2, 3, 4]);
  expect(stepOfCall(2, 3, 6)).toBe(6);
});
