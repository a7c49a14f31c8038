import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxGraphBuilder, ensureDemoModel } from '../../src/pipeline/demo';

/**
 * How a faulty U-Net goes wrong once it is triggered:
 * - `throws`: a Gather reads past the end of its data, so onnxruntime fails the run;
 * - `nan`: the predicted noise turns NaN;
 * - `oom`: it asks for a 64 GiB intermediate tensor, more memory than a worker has.
 */
export type UnetFault = 'throws' | 'nan' | 'oom';

/** Request width that triggers the fault (a 16-wide latent); any other width runs clean. */
export const FAULT_WIDTH = 128;
/** The fault fires at timesteps below this: the first steps of a generation succeed, so it breaks mid-generation. */
const FAULT_BELOW_TIMESTEP = 500;
/** Side of the `oom` fault's square float32 intermediate: 2^17 × 2^17 × 4 bytes = 64 GiB. */
const OOM_SIDE = 2 ** 17;

/**
 * A U-Net with the demo's contract that predicts zero noise, except in a
 * request of width {@link FAULT_WIDTH} from the middle of the schedule on,
 * where it fails as `fault` says. The trigger travels in the inputs (latent
 * width, timestep), so onnxruntime cannot fold it away, and one model serves
 * both the job that breaks and the next one, which must succeed.
 */
function buildFaultyUnet(fault: UnetFault): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder(`faulty_unet_${fault}`);
  const sample = g.input('sample', 'float32', ['batch', 4, 'height', 'width']);
  const timestep = g.input('timestep', 'float32', ['batch']);
  const text = g.input('encoder_hidden_states', 'float32', ['batch', 77, 32]);
  const width = g.op(
    'Gather',
    [g.op('Shape', [sample]), g.initializer('axis3', new BigInt64Array([3n]), [])],
    {
      axis: 0,
    },
  );
  const wide = g.op('Equal', [
    width,
    g.initializer('fault_width', new BigInt64Array([BigInt(FAULT_WIDTH / 8)]), []),
  ]);
  const late = g.op('Less', [
    g.op('ReduceMean', [timestep], { keepdims: 0 }),
    g.scalar('late', FAULT_BELOW_TIMESTEP),
  ]);
  const triggered = g.op('And', [wide, late]);
  const on = g.op('Cast', [triggered], { to: 1 }); // float 0 | 1
  const onInt = g.op('Cast', [triggered], { to: 7 }); // int64 0 | 1
  // Every output depends on the text too, as a real U-Net's does.
  const zero = g.op('Mul', [g.op('ReduceMean', [text], { keepdims: 0 }), g.scalar('zero', 0)]);
  let term: string;
  switch (fault) {
    case 'throws': {
      // Index 0 normally, 7 once triggered: past the end of a 2-element tensor.
      const index = g.op('Mul', [onInt, g.initializer('seven', new BigInt64Array([7n]), [])]);
      const picked = g.op('Gather', [g.initializer('two', new Float32Array([1, 2]), [2]), index], {
        axis: 0,
      });
      term = g.op('Mul', [picked, g.scalar('zero_t', 0)]);
      break;
    }
    case 'nan':
      // log(1) = 0 normally, log(-1) = NaN once triggered.
      term = g.op('Log', [g.op('Sub', [g.scalar('one', 1), g.op('Mul', [on, g.scalar('two_n', 2)])])]);
      break;
    case 'oom': {
      // A [1, 1] tensor normally, [2^17, 2^17] floats once triggered.
      const side = g.op('Add', [
        g.op('Mul', [onInt, g.initializer('side', new BigInt64Array([BigInt(OOM_SIDE - 1)]), [])]),
        g.initializer('one_i', new BigInt64Array([1n]), []),
      ]);
      const shape = g.op(
        'Concat',
        [g.op('Unsqueeze', [side, g.int64s('ax0', [0])]), g.op('Unsqueeze', [side, g.int64s('ax0b', [0])])],
        {
          axis: 0,
        },
      );
      const big = g.op('Expand', [g.initializer('ones', new Float32Array([1]), [1, 1]), shape]);
      term = g.op('Mul', [g.op('ReduceSum', [big], { keepdims: 0 }), g.scalar('zero_o', 0)]);
      break;
    }
  }
  g.output(
    'out_sample',
    'float32',
    ['batch', 4, 'height', 'width'],
    g.op('Add', [g.op('Mul', [sample, g.scalar('z2', 0)]), g.op('Add', [zero, term])]),
  );
  return g;
}

/** The demo model with a {@link buildFaultyUnet faulty U-Net}, written to `dir`. */
export async function writeFaultyModel(dir: string, dataDir: string, fault: UnetFault): Promise<void> {
  const demo = await ensureDemoModel(dataDir);
  fs.cpSync(demo, dir, { recursive: true });
  await buildFaultyUnet(fault).save(path.join(dir, 'unet', 'model.onnx'));
}
