/**
 * Entry point of the inference worker thread. onnxruntime-node's `run()`
 * blocks the thread it is called on for the whole U-Net step, so the model
 * lives here and the main thread stays free for timers, I/O and lock renewal.
 * Everything this thread does between two `session.run` calls keeps the
 * device waiting, so it only renders: the main thread turns the VAE's output
 * into image bytes (finish-images.ts) while this thread runs the next job.
 */
import type { GenerateRequest } from '../generate-request';
import { parentPort, workerData } from 'node:worker_threads';
import { GiraffeError, type SerializedGiraffeError } from '../../errors';
import { DeviceSlots } from '../device-slots';
import { adoptWebgpuLock } from '../model/webgpu-lock';
import { StableDiffusionPipeline } from '../stable-diffusion-pipeline';
import type { DenoiseCheckpoint } from '../checkpoint';
import type { FromThread, ThreadData, ToThread } from './messages';
import { ownedBuffers } from './owned-buffers';

/** The buffers a checkpoint owns (its latents, scheduler history and RNG key). */
function checkpointBuffers(cp: DenoiseCheckpoint): ArrayBuffer[] {
  const arrays = [cp.latents, cp.rng.key];
  for (const v of Object.values(cp.scheduler)) {
    if (v instanceof Float32Array) arrays.push(v);
    else if (Array.isArray(v)) arrays.push(...(v as readonly Float32Array[]));
  }
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

function serialize(err: unknown): SerializedGiraffeError | { message: string } {
  if (err instanceof GiraffeError) return err.toJSON();
  return { message: err instanceof Error ? err.message : String(err) };
}

async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as ThreadData;
  adoptWebgpuLock(data.webgpuLock);
  const send = (msg: FromThread, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

  let pipeline: StableDiffusionPipeline;
  try {
    pipeline = await StableDiffusionPipeline.load(data.modelDir, data.options);
  } catch (err) {
    send({ type: 'load-failed', error: serialize(err) });
    return;
  }
  send({ type: 'ready', info: pipeline.info });

  // Jobs render one at a time, in arrival order. The main thread sends them as they come, so
  // the next one is here when the last one's final session.run returns.
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
    const { job, request, images, wantSteps, resumeFrom, checkpointIntervalMs } = msg;
    const cancel = new Int32Array(msg.cancel);
    const deviceSlots = msg.deviceSlots && DeviceSlots.from(msg.deviceSlots);
    const render = async (): Promise<void> => {
      try {
        const rendered = await pipeline.render(
          // A resolved request is a valid request (its size lists are read-only; the schema's are not).
          { ...request, ...images } as GenerateRequest,
          {
            signal: {
              get aborted() {
                return Atomics.load(cancel, 0) !== 0;
              },
            },
            deviceSlots,
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
                      unetCall: p.unetCall,
                      unetCalls: p.unetCalls,
                      latents,
                      predictedOriginal,
                      shape: p.shape,
                    },
                    [latents.buffer, predictedOriginal.buffer],
                  );
                }
              : undefined,
            resumeFrom,
            checkpoint:
              checkpointIntervalMs === undefined
                ? undefined
                : {
                    intervalMs: checkpointIntervalMs,
                    // The checkpoint's arrays are copies of its own: they move without another copy.
                    save: (checkpoint) =>
                      send({ type: 'checkpoint', job, checkpoint }, checkpointBuffers(checkpoint)),
                  },
          },
        );
        send({ type: 'rendered', job, rendered }, ownedBuffers(rendered.decoded.pixels));
      } catch (err) {
        send({ type: 'failed', job, error: serialize(err) });
      }
    };
    chain = chain.then(render);
  });
}

void main();
