/**
 * Entry point of the inference worker thread. onnxruntime-node's `run()`
 * blocks the thread it is called on for the whole U-Net step, so the model
 * lives here and the main thread stays free for timers, I/O and lock renewal.
 */
import type { GenerateRequest } from '../generate-request';
import { parentPort, workerData } from 'node:worker_threads';
import { GiraffeError, type SerializedGiraffeError } from '../../errors';
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
  const cancel = new Int32Array(data.cancelBuffer);
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

  // One job on the device at a time (the main thread sends the next once this one's device
  // work is over, and the chain holds it anyway); earlier jobs may still be encoding.
  let chain = Promise.resolve();
  const encoding = new Set<Promise<void>>();
  port.on('message', (msg: ToThread) => {
    if (msg.type === 'close') {
      chain = chain.then(async () => {
        await Promise.all(encoding);
        await pipeline.close();
        send({ type: 'closed' });
        port.close();
      });
      return;
    }
    const { job, request, images, wantSteps, resumeFrom, checkpointIntervalMs } = msg;
    const runJob = async (deviceIdle: () => void): Promise<void> => {
      const signal = {
        get aborted() {
          return Atomics.load(cancel, 0) === job;
        },
      };
      try {
        const result = await pipeline.generate(
          // A resolved request is a valid request (its size lists are read-only; the schema's are not).
          { ...request, ...images } as GenerateRequest,
          {
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
            onDeviceIdle: () => {
              send({ type: 'device-idle', job });
              deviceIdle();
            },
          },
        );
        send({ type: 'done', job, result }, ownedBuffers(result.images));
      } catch (err) {
        send({ type: 'failed', job, error: serialize(err) });
      }
    };
    // The chain moves on when the job's last session.run returns, not when its images are encoded.
    chain = chain.then(
      () =>
        new Promise<void>((deviceIdle) => {
          const run = runJob(deviceIdle).finally(() => {
            deviceIdle();
            encoding.delete(run);
          });
          encoding.add(run);
        }),
    );
  });
}

void main();
