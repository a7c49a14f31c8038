import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config';
import { loadPipeline, surveyDevices, type DeviceStatus } from '../pipeline';
import { resolveModel } from './resolve-model';

export const devicesUsage = `Usage: giraffe devices [--device DEV] [--model NAME|DIR] [--json]

Lists the execution providers onnxruntime-node offers here (cpu, webgpu, cuda)
and whether each works on this machine. With --model, loads the model on each
working device and makes one image with one denoising step there.
  --device DEV   check only this device (cpu | webgpu | cuda:N)
  --model M      a model name under MODELS_DIR, a directory, or demo
  --json         print JSON instead of a table
Exit status 1 when the device asked for (or, with --model, every device) fails.
`;

interface ModelCheck {
  readonly device: string;
  readonly ok: boolean;
  readonly load_ms?: number;
  readonly step_ms?: number;
  readonly error?: string;
}

async function checkModel(dir: string, device: string, config: Config): Promise<ModelCheck> {
  let started = performance.now();
  try {
    // In this thread: a CLI serves nothing while it waits.
    const pipeline = await loadPipeline(dir, {
      device,
      thread: false,
      intraOpThreads: config.ORT_INTRA_OP_THREADS,
    });
    const loadMs = performance.now() - started;
    try {
      started = performance.now();
      await pipeline.generate({ prompt: 'giraffe devices', seed: 0, steps: 1 });
      return {
        device,
        ok: true,
        load_ms: Math.round(loadMs),
        step_ms: Math.round(performance.now() - started),
      };
    } finally {
      await pipeline.close();
    }
  } catch (err) {
    return { device, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function table(rows: readonly string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** `giraffe devices`: what each execution provider sees, and whether a model runs there. */
export async function devicesCommand(argv: string[], config: Config): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      device: { type: 'string' },
      model: { type: 'string', short: 'm' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(devicesUsage);
    return 0;
  }
  let devices: DeviceStatus[] = await surveyDevices();
  if (values.device !== undefined) {
    const wanted = values.device.replace(/^cuda$/, 'cuda:0');
    devices = devices.filter((d) => d.device === wanted);
    if (devices.length === 0) {
      process.stderr.write(`giraffe devices: unknown device "${values.device}"\n\n${devicesUsage}`);
      return 2;
    }
  }
  const model = values.model === undefined ? undefined : await resolveModel(values.model, config);
  const checks: ModelCheck[] = [];
  if (model) {
    for (const d of devices) {
      checks.push(
        d.available
          ? await checkModel(model.dir, d.device, config)
          : { device: d.device, ok: false, error: 'device not available' },
      );
    }
  }
  if (values.json) {
    process.stdout.write(
      JSON.stringify(
        { devices, ...(model ? { model: { id: model.id, dir: model.dir, checks } } : {}) },
        null,
        2,
      ) + '\n',
    );
  } else {
    const rows = [['DEVICE', 'PROVIDER', 'IN THIS BUILD', 'STATUS', 'DETAIL']];
    for (const d of devices) {
      rows.push([
        d.device,
        d.provider,
        d.bundled ? 'bundled' : 'extra install',
        d.available ? 'available' : 'unavailable',
        d.detail,
      ]);
    }
    process.stdout.write(table(rows));
    if (model) {
      process.stdout.write(`\nmodel ${model.id} (${model.dir}), one step at its default size:\n`);
      for (const c of checks) {
        process.stdout.write(
          c.ok
            ? `  ${c.device}: runs (load ${c.load_ms} ms, one-step image ${c.step_ms} ms)\n`
            : `  ${c.device}: fails: ${c.error}\n`,
        );
      }
    }
  }
  const failed = model ? checks.every((c) => !c.ok) : devices.every((d) => !d.available);
  return values.device !== undefined || model ? (failed ? 1 : 0) : 0;
}
