import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { TaesdRequest, TaesdThreadData, TaesdReply } from './taesd-messages';

/**
 * The TAESD preview decoder's own thread: `session.run` blocks the thread it
 * is called on, and a 512² TAESD decode is tens of GMAC, so it runs neither
 * on the worker's main thread nor on the denoising thread.
 */
const data = workerData as TaesdThreadData;
const port = parentPort!;

void (async () => {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(data.file, {
      intraOpNumThreads: data.intraOpThreads,
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    port.postMessage({
      type: 'failed',
      message: err instanceof Error ? err.message : String(err),
    } satisfies TaesdReply);
    return;
  }
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  port.postMessage({ type: 'ready' } satisfies TaesdReply);
  port.on('message', (request: TaesdRequest) => {
    void (async () => {
      try {
        const result = (
          await session.run({ [input]: new ort.Tensor('float32', request.data, request.shape) })
        )[output];
        const [, channels, height, width] = result.dims as number[];
        if (channels < 3) throw new Error(`TAESD gave ${channels} channels, not 3`);
        const pixels = result.data as Float32Array;
        const plane = width * height;
        const rgb = new Uint8Array(plane * 3);
        // TAESD decodes to [0, 1].
        for (let p = 0; p < plane; p++)
          for (let c = 0; c < 3; c++) {
            const v = pixels[c * plane + p];
            rgb[p * 3 + c] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255);
          }
        port.postMessage({ type: 'decoded', id: request.id, width, height, rgb } satisfies TaesdReply, [
          rgb.buffer,
        ]);
      } catch (err) {
        port.postMessage({
          type: 'error',
          id: request.id,
          message: err instanceof Error ? err.message : String(err),
        } satisfies TaesdReply);
      }
    })();
  });
})();
