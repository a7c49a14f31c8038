import { GiraffeError } from '../errors';

/** What {@link DeviceSlots.take} watches while it waits: a job's cancellation. */
interface CancelSignal {
  readonly aborted: boolean;
}

/** How long a waiter sleeps before it looks at its cancel signal again, if nothing woke it. */
const RECHECK_MS = 100;

/**
 * Turns on the device, counted in shared memory so that inference threads
 * hand them to each other directly: a job takes a slot before its first
 * `session.run` and gives it back after its last, and a job waiting on this
 * thread or another starts that moment, with no round trip through the main
 * thread (whose event loop may be busy encoding and storing the last job's
 * images). Waiters are not served in order; a worker keeps few waiting.
 */
export class DeviceSlots {
  /** One Int32: the slots free now. */
  readonly buffer: SharedArrayBuffer;
  readonly #free: Int32Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#free = new Int32Array(buffer);
  }

  /** New slots, `count` of them free. */
  static create(count: number): DeviceSlots {
    const slots = new DeviceSlots(new SharedArrayBuffer(4));
    Atomics.store(slots.#free, 0, Math.max(1, count));
    return slots;
  }

  /** The same slots, seen from another thread (the buffer came in a message). */
  static from(buffer: SharedArrayBuffer): DeviceSlots {
    return new DeviceSlots(buffer);
  }

  /** Slots free now (for tests and metrics). */
  get free(): number {
    return Atomics.load(this.#free, 0);
  }

  /**
   * Waits for a slot; resolves with the function that gives it back (once,
   * whoever calls it). A canceled signal ends the wait with
   * GIRAFFE_ERR_GENERATION_CANCELED.
   */
  async take(signal?: CancelSignal): Promise<() => void> {
    for (;;) {
      if (signal?.aborted)
        throw new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'the generation was canceled');
      const free = Atomics.load(this.#free, 0);
      if (free > 0) {
        if (Atomics.compareExchange(this.#free, 0, free, free - 1) === free) break;
        continue;
      }
      const wait = Atomics.waitAsync(this.#free, 0, free, RECHECK_MS);
      if (wait.async) await wait.value;
    }
    let given = false;
    return () => {
      if (given) return;
      given = true;
      Atomics.add(this.#free, 0, 1);
      this.wake();
    };
  }

  /** Wakes every waiter to try again (a slot came free, or one of them was canceled). */
  wake(): void {
    Atomics.notify(this.#free, 0);
  }
}
