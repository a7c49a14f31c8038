/**
 * Entry point of the inference worker thread. onnxruntime-node's `run()`
 * blocks the thread it is called on for the whole U-Net step, so the model
 * lives here and the main thread stays free for timers, I/O and lock renewal.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GiraffeError, type SerializedGiraffeError } from '../../errors';
import { StableDiffusionPipeline } from '../stable-diffusion-pipeline';
import type { FromThread, ThreadData, ToThread } from './messages';
import { ownedBuffers } from './owned-buffers';

function serialize(err: unknown): SerializedGiraffeError | { message: string } {
  if (err instanceof GiraffeError) return err.toJSON();
  return { message: err instanceof Error ? err.message : String(err) };
}

async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as ThreadData;
  const cancel = new Int32Array(data.cancelBuffer);
  const send = (msg: FromThread, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

  let pipeline: StableDiffusionPipeline;
  try {
    pipeline = await StableDiffusionPipeline.load(data.modelDir, data.options);
  } catch (err) {
    send({ type: 'load-failed', error: serialize(err) });
    return;
  }
  send({ type: 'ready', info: pipeline.info });

  // Jobs arrive one at a time (the main thread queues), but chain them anyway.
  let chain = Promise.resolve();
  port.on('message', (msg: ToThread) => {
    if (msg.type === 'close') {
      chain = chain.then(async () => {
        await pipeline.close();
        send({ type: 'closed' });
        port.close();
      });
      return;
    }
    const { job, request, wantSteps } = msg;
    chain = chain.then(async () => {
      const signal = {
        get aborted() {
          return Atomics.load(cancel, 0) === job;
        },
      };
      try {
        const result = await pipeline.generate(request, {
          signal,
          onStep: wantSteps
            ? (p) => {
                // Copies: the pipeline keeps using its arrays; the copies move without another copy.
                const latents = p.latents.slice();
                const predictedOriginal = p.predictedOriginal.slice();
                send(
                  {
                    type: 'step',
                    job,
                    step: p.step,
                    steps: p.steps,
                    timestep: p.timestep,
                    unetTimesteps: p.unetTimesteps,
                    latents,
                    predictedOriginal,
                    shape: p.shape,
                  },
                  [latents.buffer, predictedOriginal.buffer],
                );
              }
            : undefined,
        });
        send({ type: 'done', job, result }, ownedBuffers(result.images));
      } catch (err) {
        send({ type: 'failed', job, error: serialize(err) });
      }
    });
  });
}

void main();
