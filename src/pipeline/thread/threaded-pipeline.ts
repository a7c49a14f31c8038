import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { GiraffeError } from '../../errors';
import { checkModelMode } from '../model/model-modes';
import {
  generationMode,
  resolveRequestWithImages,
  type RequestImages,
  type PipelineRequest,
  type ResolvedRequest,
} from '../generate-request';
import type {
  GenerateOptions,
  GenerateResult,
  ModelInfo,
  PipelineOptions,
} from '../stable-diffusion-pipeline';
import type { FromThread, ThreadData, ToThread } from './messages';
import { startThread } from './start-thread';
import { finishImages } from '../stages/finish-images';
import { webgpuLockBuffer } from '../model/webgpu-lock';

interface PostedJob {
  readonly job: number;
  /** One Int32 the thread reads between steps: 1 cancels the job. */
  readonly cancel: Int32Array;
  readonly options: GenerateOptions;
  readonly resolve: (result: GenerateResult) => void;
  readonly reject: (err: Error) => void;
  readonly onAbort: () => void;
  /** Its device work is over; its images are being finished here. */
  rendered: boolean;
}

function reviveError(error: { message: string } | unknown): Error {
  return GiraffeError.isSerialized(error)
    ? GiraffeError.fromJSON(error)
    : new Error((error as { message: string }).message);
}

/**
 * A Stable Diffusion pipeline whose sessions live in a worker thread. Same
 * `generate` contract as the in-thread pipeline. Jobs go to the thread as
 * they come and render there one at a time in arrival order, so the next
 * one starts the moment the last one's final `session.run` returns; this
 * thread turns each job's VAE output into image bytes meanwhile.
 * Cancellation reaches a job through shared memory, so it takes effect at the
 * next step boundary (or before it starts).
 */
export class ThreadedPipeline {
  #worker: Worker;
  /** Jobs sent to the thread and not yet settled. */
  #jobs = new Map<number, PostedJob>();
  #nextJob = 1;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(
    worker: Worker,
    readonly info: ModelInfo,
  ) {
    this.#worker = worker;
    worker.on('message', (msg: FromThread) => this.#onMessage(msg));
    worker.on('error', (err) =>
      this.#fail(
        new GiraffeError('GIRAFFE_ERR_GENERATION_FAILED', `inference thread crashed: ${err.message}`),
      ),
    );
    worker.on('exit', (code) => {
      if (!this.#closed)
        this.#fail(
          new GiraffeError('GIRAFFE_ERR_GENERATION_FAILED', `inference thread exited (code ${code})`),
        );
      this.#closed = true;
    });
  }

  /** Starts the thread and loads the model there; rejects with the load error. */
  static async start(modelDir: string, options: PipelineOptions = {}): Promise<ThreadedPipeline> {
    const worker = startThread(__dirname, 'inference-thread', {
      modelDir: path.resolve(modelDir),
      options,
      webgpuLock: webgpuLockBuffer(),
    } satisfies ThreadData);
    const info = await new Promise<ModelInfo>((resolve, reject) => {
      const onMessage = (msg: FromThread): void => {
        if (msg.type === 'ready') resolve(msg.info);
        else if (msg.type === 'load-failed') reject(reviveError(msg.error));
        else return;
        cleanup();
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new Error(`inference thread exited during model load (code ${code})`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return new ThreadedPipeline(worker, info);
  }

  /** Validates a request against this model and fills in its defaults (seed included). */
  resolve(request: PipelineRequest): ResolvedRequest {
    return this.#resolve(request).request;
  }

  #resolve(request: unknown): { request: ResolvedRequest; images: RequestImages } {
    const resolved = resolveRequestWithImages(request, {
      ...this.info.defaults,
      size: this.info.defaults.width,
    });
    checkModelMode(this.info.modes, generationMode(resolved.request), this.info.id);
    return resolved;
  }

  generate(request: PipelineRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    if (this.#closed || this.#closing)
      return Promise.reject(new GiraffeError('GIRAFFE_ERR_PIPELINE_CLOSED', 'the pipeline is closed'));
    let resolved: ResolvedRequest;
    let images: RequestImages;
    try {
      ({ request: resolved, images } = this.#resolve(request));
    } catch (err) {
      return Promise.reject(err);
    }
    if (options.signal?.aborted)
      return Promise.reject(
        new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'the generation was canceled'),
      );
    return new Promise<GenerateResult>((resolve, reject) => {
      const job = this.#nextJob++;
      const cancelBuffer = new SharedArrayBuffer(4);
      const posted: PostedJob = {
        job,
        cancel: new Int32Array(cancelBuffer),
        options,
        resolve,
        reject,
        onAbort: () => this.#cancel(posted),
        rendered: false,
      };
      if (options.signal && 'addEventListener' in options.signal) {
        (options.signal as AbortSignal).addEventListener('abort', posted.onAbort, { once: true });
      }
      this.#jobs.set(job, posted);
      this.#worker.postMessage({
        type: 'generate',
        job,
        cancel: cancelBuffer,
        deviceSlots: options.deviceSlots?.buffer,
        request: resolved,
        images,
        wantSteps: options.onStep !== undefined,
        resumeFrom: options.resumeFrom,
        checkpointIntervalMs: options.checkpoint?.intervalMs,
      } satisfies ToThread);
    });
  }

  /** Tells the thread to stop the job at its next step boundary (or not to start it). */
  #cancel(posted: PostedJob): void {
    if (posted.rendered) return;
    Atomics.store(posted.cancel, 0, 1);
    // A job waiting for a turn on the device looks at its flag again now.
    posted.options.deviceSlots?.wake();
  }

  #settle(p: PostedJob, outcome: Error | GenerateResult): void {
    this.#jobs.delete(p.job);
    if (p.options.signal && 'removeEventListener' in p.options.signal) {
      (p.options.signal as AbortSignal).removeEventListener('abort', p.onAbort);
    }
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  #onMessage(msg: FromThread): void {
    if (msg.type === 'ready' || msg.type === 'load-failed' || msg.type === 'closed') return;
    const job = this.#jobs.get(msg.job);
    if (!job) return;
    if (msg.type === 'step') {
      try {
        job.options.onStep?.(msg);
      } catch {
        // A failing progress callback must not take the generation down with it.
      }
      if (job.options.signal?.aborted) this.#cancel(job);
    } else if (msg.type === 'checkpoint') {
      try {
        job.options.checkpoint?.save(msg.checkpoint);
      } catch {
        // Like progress: a failing store must not take the generation down with it.
      }
    } else if (msg.type === 'rendered') {
      // The thread has gone on to the next job; the images are finished here meanwhile.
      job.rendered = true;
      try {
        job.options.onDeviceIdle?.();
      } catch {
        // The caller's bookkeeping must not take the generation down with it.
      }
      finishImages(msg.rendered).then(
        (result) => this.#settle(job, result),
        (err: unknown) => this.#settle(job, err instanceof Error ? err : new Error(String(err))),
      );
    } else {
      this.#settle(job, reviveError(msg.error));
    }
  }

  #fail(err: Error): void {
    this.#closed = true;
    // Jobs whose images are being finished here need the thread no more.
    for (const p of [...this.#jobs.values()]) if (!p.rendered) this.#settle(p, err);
  }

  /** Generations sent to the thread whose device work is not over yet. */
  get pending(): number {
    let n = 0;
    for (const p of this.#jobs.values()) if (!p.rendered) n += 1;
    return n;
  }

  /** Cancels the jobs not yet rendered, lets the thread release its sessions, and stops it. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      for (const p of this.#jobs.values()) this.#cancel(p);
      if (this.#closed) return;
      const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
      this.#worker.postMessage({ type: 'close' } satisfies ToThread);
      const timeout = setTimeout(() => void this.#worker.terminate(), 10_000);
      await exited;
      clearTimeout(timeout);
      this.#closed = true;
    })();
    return this.#closing;
  }
}
