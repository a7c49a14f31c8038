/**
 * Time per denoising step (one U-Net call at batch 2 for classifier-free
 * guidance, plus the scheduler) of an SDXL-shaped fixture next to an
 * SD 1.5-shaped one of the same U-Net width: each at its native size
 * (512² for SD 1.5, 1024² for SDXL) and both at 512², which isolates what
 * SDXL's conditioning (two text encoders' states, text_embeds, time_ids)
 * costs from what its resolution costs. The fixtures are tiny random-weight
 * models: the ratios mean something, the absolute times do not. One warm-up
 * run per case, then `--runs` timed runs of `--steps` steps. Shared machine:
 * figures are noisy.
 *
 *   npm run build && node --import tsx bench/unet-step-shapes.ts [-- --steps 4 --runs 2 --channels 64]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { StableDiffusionPipeline, writeFixtureModel } from '../dist/pipeline';
import { writeBenchResult, type BenchFigure } from './lib/bench-results';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '4' },
    runs: { type: 'string', default: '2' },
    channels: { type: 'string', default: '64' },
    json: { type: 'string' },
  },
});
const steps = Number(values.steps);
const runs = Number(values.runs);
const channels = Number(values.channels);

async function msPerStep(dir: string, size: number): Promise<number> {
  const pipeline = await StableDiffusionPipeline.load(dir);
  try {
    const request = {
      prompt: 'a giraffe',
      seed: 1,
      steps,
      guidance_scale: 5,
      width: size,
      height: size,
      scheduler: 'euler' as const,
    };
    await pipeline.generate({ ...request, steps: 1 });
    let total = 0;
    for (let i = 0; i < runs; i++) {
      const r = await pipeline.generate(request);
      total += r.timings.denoise_ms / r.timings.unet_calls;
    }
    return total / runs;
  } finally {
    await pipeline.close();
  }
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-steps-'));
  try {
    const sd15 = path.join(tmp, 'sd15');
    const sdxl = path.join(tmp, 'sdxl');
    await writeFixtureModel(sd15, { channels });
    await writeFixtureModel(sdxl, { family: 'sdxl', channels });
    const cases: [string, string, number][] = [
      ['SD 1.5-shaped, 512²', sd15, 512],
      ['SDXL-shaped, 512²', sdxl, 512],
      ['SDXL-shaped, 1024²', sdxl, 1024],
    ];
    const figures: BenchFigure[] = [];
    for (const [name, dir, size] of cases) {
      const ms = await msPerStep(dir, size);
      figures.push({ name: `${name} ms/step`, value: ms, unit: 'ms' });
    }
    const [a, b, c] = figures.map((f) => f.value);
    process.stdout.write(`U-Net width ${channels}, CFG batch 2, ${steps} steps × ${runs} runs:\n`);
    for (const f of figures) process.stdout.write(`  ${f.name.padEnd(32)} ${f.value.toFixed(1)} ms\n`);
    process.stdout.write(
      `  SDXL ÷ SD 1.5 at 512²: ${(b / a).toFixed(2)}×; SDXL at 1024² ÷ SD 1.5 at 512²: ${(c / a).toFixed(2)}×\n`,
    );
    writeBenchResult(values.json, {
      bench: 'unet-step-shapes',
      title: 'ms per denoising step, SDXL-shaped vs SD 1.5-shaped fixtures',
      figures,
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  endProcess(1);
});
