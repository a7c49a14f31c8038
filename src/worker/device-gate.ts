import { GiraffeError } from '../errors';

/**
 * Lets at most `slots` jobs at a time do their device work (the session.run
 * calls). A worker takes one job more than it has slots: that job waits here,
 * already claimed and loaded with its inputs, and goes to the device the
 * moment the one before it leaves — while that one's images are still being
 * encoded and stored — so the device never waits for the rest of the worker.
 */
export class DeviceGate {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(slots: number) {
    this.#free = Math.max(1, slots);
  }

  /**
   * Waits for a slot; resolves with the function that gives it back (once,
   * whoever calls it). An aborted signal stops the wait with its reason.
   */
  async enter(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortReason(signal);
    if (this.#free > 0) {
      this.#free -= 1;
    } else {
      await new Promise<void>((resolve, reject) => {
        const admit = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const i = this.#waiting.indexOf(admit);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(abortReason(signal!));
        };
        this.#waiting.push(admit);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next job: nobody can slip in between.
      if (next) next();
      else this.#free += 1;
    };
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'the generation was canceled');
}
