/**
 * What image-to-image adds to a job: the same model (the SD-shaped fixture
 * with a VAE encoder), size and steps run as text-to-image and as
 * image-to-image from a PNG the size of the output and from a 2048×2048 PNG
 * (decoded and resized down first). Prints per run the input decode, the VAE
 * encoder, the U-Net calls and the total, medians over the measured runs;
 * img2img runs fewer U-Net calls (strength < 1 skips the early steps), so the
 * added cost is `input_decode_ms + vae_encoder_ms`, and the total compares
 * at the same number of steps too.
 *
 *   npm run build && node --import tsx bench/image-to-image.ts [-- --size 512 --steps 20 --runs 3
 *                                                          --strength 0.75 --channels 32 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
// The compiled package: measure what ships.
import { loadPipeline, writeFixtureModel, type GenerationTimings } from '../dist';
import { writeBenchResult, type BenchFigure } from './lib/bench-results';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '512' },
    steps: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    strength: { type: 'string', default: '0.75' },
    channels: { type: 'string', default: '32' },
    json: { type: 'string' },
  },
});
const size = Number(values.size);
const steps = Number(values.steps);
const runs = Number(values.runs);
const strength = Number(values.strength);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A photo-like PNG (smooth colour plus fine noise, so it does not compress to nothing). */
async function testPng(side: number): Promise<Buffer> {
  const raw = Buffer.alloc(side * side * 3);
  let seed = 1;
  for (let i = 0; i < raw.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const p = Math.floor(i / 3);
    raw[i] = ((p % side) * 200) / side + ((p / side) * 30) / side + (seed >>> 28);
  }
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-img2img-'));
  try {
    const dir = path.join(tmp, 'fixture');
    await writeFixtureModel(dir, { vaeEncoder: 'latent_sample', channels: Number(values.channels) });
    const pipeline = await loadPipeline(dir);
    const same = await testPng(size);
    const large = await testPng(2048);
    const base = {
      prompt: 'a lighthouse on a cliff',
      width: size,
      height: size,
      steps,
      seed: 1,
      scheduler: 'euler' as const,
    };
    const variants: Array<[string, Record<string, unknown>]> = [
      ['text-to-image', {}],
      [`img2img ${size}² PNG, strength ${strength}`, { image: same, strength }],
      [`img2img ${size}² PNG, strength 1`, { image: same, strength: 1 }],
      [
        `img2img 2048² PNG (${(large.length / 1e6).toFixed(1)} MB), strength ${strength}`,
        { image: large, strength },
      ],
    ];
    const figures: BenchFigure[] = [];
    console.log(
      `fixture U-Net width ${values.channels}, ${size}×${size}, ${steps} steps, euler, median of ${runs} runs after 1 warm-up`,
    );
    for (const [name, extra] of variants) {
      const timings: GenerationTimings[] = [];
      for (let r = 0; r < runs + 1; r++) {
        const result = await pipeline.generate({ ...base, ...extra });
        if (r > 0) timings.push(result.timings);
      }
      const m = (k: keyof GenerationTimings): number => median(timings.map((t) => Number(t[k] ?? 0)));
      const perCall = m('denoise_ms') / Math.max(1, m('unet_calls'));
      console.log(
        `${name.padEnd(48)} total ${m('total_ms').toFixed(0).padStart(6)} ms  input decode ${m('input_decode_ms').toFixed(1).padStart(6)} ms  ` +
          `vae_encoder ${m('vae_encoder_ms').toFixed(1).padStart(6)} ms  unet calls ${m('unet_calls')}  denoise/call ${perCall.toFixed(1)} ms`,
      );
      figures.push({ name: `${name}: total`, value: Math.round(m('total_ms')), unit: 'ms' });
      if (extra.image) {
        figures.push({
          name: `${name}: added (input decode + vae_encoder)`,
          value: Math.round(m('input_decode_ms') + m('vae_encoder_ms')),
          unit: 'ms',
        });
      }
    }
    await pipeline.close();
    writeBenchResult(values.json, {
      bench: 'image-to-image',
      title: `what image-to-image adds to a ${size}×${size}, ${steps}-step job (fixture model, threaded pipeline)`,
      figures,
      notes: ['Figures on a shared machine are noisy.'],
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

void main();
