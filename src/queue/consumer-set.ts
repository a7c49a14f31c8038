import type { JobConsumer } from './ports';

/** A consumer of one model, as a driver makes it. */
export interface ModelConsumer {
  readonly running: readonly string[];
  close(graceMs?: number): Promise<void>;
}

/**
 * A {@link JobConsumer} made of one consumer per model (the bullmq driver's:
 * a BullMQ Worker listens on one queue), each with its own slots.
 */
export class ConsumerSet implements JobConsumer {
  readonly #make: (model: string) => ModelConsumer;
  readonly #consumers = new Map<string, ModelConsumer>();
  #closing: Promise<void> | undefined;

  constructor(models: readonly string[], make: (model: string) => ModelConsumer) {
    this.#make = make;
    for (const model of models) this.serve(model);
  }

  get running(): readonly string[] {
    return [...this.#consumers.values()].flatMap((c) => c.running);
  }

  serve(model: string): void {
    if (this.#closing !== undefined || this.#consumers.has(model)) return;
    this.#consumers.set(model, this.#make(model));
  }

  close(graceMs?: number): Promise<void> {
    this.#closing ??= Promise.all([...this.#consumers.values()].map((c) => c.close(graceMs))).then(
      () => undefined,
    );
    return this.#closing;
  }
}
