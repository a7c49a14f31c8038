import { isMainThread } from 'node:worker_threads';

/**
 * One lock for all webgpu work in a process, shared by every thread.
 *
 * onnxruntime-node 1.30's WebGPU provider keeps one Dawn device per process.
 * Two worker threads that create or run webgpu sessions at the same time
 * crash the process (measured: 3 segfaults in 3 tries, also with a lock
 * around `run` alone; onnxruntime issue #32561). A lock around session
 * creation, every run and every release, held across threads, makes it safe.
 * Concurrency on one GPU then comes from batching or from more processes,
 * never from threads racing inside Dawn.
 *
 * The state is one Int32 in a SharedArrayBuffer (0 free, 1 held): made by the
 * main thread, handed to each inference thread in its workerData, adopted
 * there with {@link adoptWebgpuLock}. Waiting uses `Atomics.waitAsync`, so a
 * thread waiting for the GPU still answers its messages.
 */
let state: Int32Array | undefined;

/** The process's lock memory, to hand to a thread that may run webgpu sessions. */
export function webgpuLockBuffer(): SharedArrayBuffer {
  state ??= new Int32Array(new SharedArrayBuffer(4));
  return state.buffer as SharedArrayBuffer;
}

/** Makes this thread use the lock its parent thread handed over. */
export function adoptWebgpuLock(buffer: SharedArrayBuffer): void {
  if (isMainThread) throw new Error('the main thread owns the webgpu lock; it does not adopt one');
  state = new Int32Array(buffer);
}

type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };

async function acquire(lock: Int32Array): Promise<void> {
  // `waitAsync` (Node ≥ 16) is missing from TypeScript's ES2023 lib.
  const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) {
    // Returns at once when the lock was released since the exchange above: no lost wake-up.
    const waited = waitAsync(lock, 0, 1);
    if (!waited.async) continue;
    // A pending waitAsync does not keep Node's event loop alive: a thread with nothing
    // else to do would exit while it waits (code 0, mid-load). A timer keeps it.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      await waited.value;
    } finally {
      clearInterval(keepAlive);
    }
  }
}

function release(lock: Int32Array): void {
  Atomics.store(lock, 0, 0);
  Atomics.notify(lock, 0, 1);
}

/** Runs `fn` holding the process-wide webgpu lock. */
export async function withWebgpuLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = new Int32Array(webgpuLockBuffer());
  await acquire(lock);
  try {
    return await fn();
  } finally {
    release(lock);
  }
}
