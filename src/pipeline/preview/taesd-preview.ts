import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../thread/start-thread';
import type { Latents, PreviewPixels } from './linear-preview';
import type { TaesdReply, TaesdThreadData } from './taesd-messages';

/** Where a model directory may keep its TAESD decoder (tiny autoencoder, latents → [0, 1] RGB). */
export const taesdFiles = ['taesd/model.onnx', 'taesd/vae_decoder/model.onnx'] as const;

/** The TAESD decoder of a model directory, or undefined when it has none. */
export function findTaesd(modelDir: string): string | undefined {
  return taesdFiles.map((f) => path.join(modelDir, f)).find((f) => fs.existsSync(f));
}

/**
 * Previews from TAESD instead of the linear projection: sharper, at the
 * image's full size, at about 1/100 of the VAE's cost. Decodes run one at a
 * time in a thread of their own, off the worker's main thread and off the
 * denoising thread.
 */
export class TaesdPreviewDecoder {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (p: PreviewPixels) => void; reject: (e: Error) => void }>();
  /** Why the thread is gone; a decode asked for after that fails at once instead of waiting forever. */
  #gone: Error | undefined;

  private constructor(
    private readonly thread: Worker,
    readonly file: string,
  ) {
    thread.on('message', (reply: TaesdReply) => {
      if (reply.type !== 'decoded' && reply.type !== 'error') return;
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.type === 'error') waiter?.reject(new Error(`TAESD preview failed: ${reply.message}`));
      else
        waiter?.resolve({
          width: reply.width,
          height: reply.height,
          rgb: Buffer.from(reply.rgb.buffer, reply.rgb.byteOffset, reply.rgb.byteLength),
        });
    });
    thread.on('error', (err) => this.#failAll(err));
    thread.on('exit', () => this.#failAll(new Error('TAESD thread exited')));
  }

  /** Loads `file` in its own thread; rejects when onnxruntime cannot load it. */
  static async open(file: string, intraOpThreads = 1): Promise<TaesdPreviewDecoder> {
    const thread = startThread(__dirname, 'taesd-thread', { file, intraOpThreads } satisfies TaesdThreadData);
    const reply = await new Promise<TaesdReply>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
    });
    if (reply.type !== 'ready') {
      await thread.terminate();
      throw new Error(
        `${file}: ${reply.type === 'failed' ? reply.message : 'the TAESD thread did not start'}`,
      );
    }
    return new TaesdPreviewDecoder(thread, file);
  }

  /** Decodes image `index` of the batch. */
  decode(latents: Latents, index = 0): Promise<PreviewPixels> {
    const [, channels, height, width] = latents.shape;
    const plane = channels * height * width;
    const data = latents.data.slice(index * plane, (index + 1) * plane);
    if (this.#gone) return Promise.reject(this.#gone);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.thread.postMessage({ id, shape: [1, channels, height, width], data }, [data.buffer]);
    });
  }

  async close(): Promise<void> {
    await this.thread.terminate();
  }

  #failAll(err: Error): void {
    this.#gone ??= err;
    for (const { reject } of this.#pending.values()) reject(err);
    this.#pending.clear();
  }
}
