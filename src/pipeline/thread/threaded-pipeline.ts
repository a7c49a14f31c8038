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
import { webgpuLockBuffer } from '../model/webgpu-lock';

interface PendingJob {
  readonly job: number;
  readonly request: ResolvedRequest;
  readonly images: RequestImages;
  readonly options: GenerateOptions;
  readonly resolve: (result: GenerateResult) => void;
  readonly reject: (err: Error) => void;
  readonly onAbort: () => void;
}

function reviveError(error: { message: string } | unknown): Error {
  return GiraffeError.isSerialized(error)
    ? GiraffeError.fromJSON(error)
    : new Error((error as { message: string }).message);
}

/** Structured clone turns Buffers into plain Uint8Arrays; make them Buffers again without copying. */
function reviveResult(result: GenerateResult): GenerateResult {
  const images = result.images.map((img) => Buffer.from(img.buffer, img.byteOffset, img.byteLength));
  return { ...result, images };
}

/**
 * A Stable Diffusion pipeline whose sessions live in a worker thread. Same
 * `generate` contract as the in-thread pipeline; jobs run one at a time in
 * arrival order, and cancellation reaches a running job through shared
 * memory, so it takes effect at the next step boundary.
 */
export class ThreadedPipeline {
  #worker: Worker;
  #cancel: Int32Array;
  #queue: PendingJob[] = [];
  /** The job whose `session.run` calls the thread is making: one at a time. */
  #onDevice: PendingJob | undefined;
  /** Jobs past their last `session.run`, their images being encoded while the next job runs. */
  #finishing = new Map<number, PendingJob>();
  #nextJob = 1;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(
    worker: Worker,
    cancel: Int32Array,
    readonly info: ModelInfo,
  ) {
    this.#worker = worker;
    this.#cancel = cancel;
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
    const cancelBuffer = new SharedArrayBuffer(4);
    const worker = startThread(__dirname, 'inference-thread', {
      modelDir: path.resolve(modelDir),
      options,
      cancelBuffer,
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
    return new ThreadedPipeline(worker, new Int32Array(cancelBuffer), info);
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
      const onAbort = (): void => this.#abort(job);
      const pending: PendingJob = { job, request: resolved, images, options, resolve, reject, onAbort };
      if (options.signal && 'addEventListener' in options.signal) {
        (options.signal as AbortSignal).addEventListener('abort', onAbort, { once: true });
      }
      this.#queue.push(pending);
      this.#pump();
    });
  }

  #abort(job: number): void {
    const queued = this.#queue.findIndex((p) => p.job === job);
    if (queued >= 0) {
      const [p] = this.#queue.splice(queued, 1);
      this.#settle(p, new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'the generation was canceled'));
    } else if (this.#onDevice?.job === job) {
      Atomics.store(this.#cancel, 0, job);
    }
  }

  #pump(): void {
    if (this.#onDevice || this.#closed) return;
    const next = this.#queue.shift();
    if (!next) return;
    this.#onDevice = next;
    const msg: ToThread = {
      type: 'generate',
      job: next.job,
      request: next.request,
      images: next.images,
      wantSteps: next.options.onStep !== undefined,
      resumeFrom: next.options.resumeFrom,
      checkpointIntervalMs: next.options.checkpoint?.intervalMs,
    };
    this.#worker.postMessage(msg);
  }

  #settle(p: PendingJob, outcome: Error | GenerateResult): void {
    if (p.options.signal && 'removeEventListener' in p.options.signal) {
      (p.options.signal as AbortSignal).removeEventListener('abort', p.onAbort);
    }
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  #onMessage(msg: FromThread): void {
    if (msg.type === 'ready' || msg.type === 'load-failed' || msg.type === 'closed') return;
    const job = this.#onDevice?.job === msg.job ? this.#onDevice : this.#finishing.get(msg.job);
    if (!job) return;
    if (msg.type === 'step') {
      try {
        job.options.onStep?.(msg);
      } catch {
        // A failing progress callback must not take the generation down with it.
      }
      if (job.options.signal?.aborted) Atomics.store(this.#cancel, 0, job.job);
    } else if (msg.type === 'checkpoint') {
      try {
        job.options.checkpoint?.save(msg.checkpoint);
      } catch {
        // Like progress: a failing store must not take the generation down with it.
      }
    } else if (msg.type === 'device-idle') {
      // The device is free: the next job starts while this one's images are encoded.
      this.#finishing.set(job.job, job);
      this.#onDevice = undefined;
      this.#pump();
      try {
        job.options.onDeviceIdle?.();
      } catch {
        // The caller's bookkeeping must not take the generation down with it.
      }
    } else {
      this.#finishing.delete(job.job);
      if (this.#onDevice === job) this.#onDevice = undefined;
      this.#settle(job, msg.type === 'done' ? reviveResult(msg.result) : reviveError(msg.error));
      this.#pump();
    }
  }

  #fail(err: Error): void {
    this.#closed = true;
    const all = [
      ...(this.#onDevice ? [this.#onDevice] : []),
      ...this.#finishing.values(),
      ...this.#queue.splice(0),
    ];
    this.#onDevice = undefined;
    this.#finishing.clear();
    for (const p of all) this.#settle(p, err);
  }

  /** Number of generations queued or running in this pipeline. */
  get pending(): number {
    return this.#queue.length + (this.#onDevice ? 1 : 0) + this.#finishing.size;
  }

  /** Cancels queued work, lets the thread release its sessions, and stops it. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      for (const p of this.#queue.splice(0))
        this.#settle(p, new GiraffeError('GIRAFFE_ERR_PIPELINE_CLOSED', 'the pipeline was closed'));
      if (this.#onDevice) Atomics.store(this.#cancel, 0, this.#onDevice.job);
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
