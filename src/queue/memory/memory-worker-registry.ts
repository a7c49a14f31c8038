import type { WorkerInfo, WorkerRegistry } from '../ports';

/** Workers of this process, each forgotten when its heartbeats stop for its TTL. */
export class MemoryWorkerRegistry implements WorkerRegistry {
  readonly #workers = new Map<string, { readonly info: WorkerInfo; readonly expiresAt: number }>();

  async heartbeat(info: Omit<WorkerInfo, 'heartbeat_at'>, ttlMs: number): Promise<void> {
    const now = Date.now();
    this.#workers.set(info.id, {
      info: { ...info, heartbeat_at: new Date(now).toISOString() },
      expiresAt: now + ttlMs,
    });
  }

  async remove(workerId: string): Promise<void> {
    this.#workers.delete(workerId);
  }

  readonly #unserved = new Map<string, number>();

  async noteUnserved(unserved: readonly string[], now: number): Promise<Record<string, number>> {
    const keep = new Set(unserved);
    for (const model of this.#unserved.keys()) if (!keep.has(model)) this.#unserved.delete(model);
    for (const model of unserved) if (!this.#unserved.has(model)) this.#unserved.set(model, now);
    return Object.fromEntries(this.#unserved);
  }

  async list(): Promise<WorkerInfo[]> {
    const now = Date.now();
    const live: WorkerInfo[] = [];
    for (const [id, { info, expiresAt }] of this.#workers) {
      if (expiresAt <= now) this.#workers.delete(id);
      else live.push(info);
    }
    return live;
  }
}
