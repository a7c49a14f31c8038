interface Entry {
  readonly id: string;
  readonly priority: number;
  readonly seq: number;
}

/**
 * One model's waiting jobs in the order they run: lower priority number
 * first, first in first out within a priority. A job handed back by a worker
 * goes to the head of its priority, as BullMQ does.
 */
export class WaitingList {
  #entries: Entry[] = [];
  #tail = 0;
  #head = 0;

  get size(): number {
    return this.#entries.length;
  }

  push(id: string, priority: number): void {
    this.#insert({ id, priority, seq: ++this.#tail });
  }

  /** Ahead of everything else with the same priority. */
  pushFront(id: string, priority: number): void {
    this.#insert({ id, priority, seq: -++this.#head });
  }

  shift(): string | undefined {
    return this.#entries.shift()?.id;
  }

  /** Empties the list; resolves with the ids it held, in order. */
  clear(): string[] {
    const ids = this.#entries.map((e) => e.id);
    this.#entries = [];
    return ids;
  }

  remove(id: string): boolean {
    const i = this.position(id);
    if (i === undefined) return false;
    this.#entries.splice(i, 1);
    return true;
  }

  /** Jobs ahead of this one (0: next), undefined when it is not here. */
  position(id: string): number | undefined {
    const i = this.#entries.findIndex((e) => e.id === id);
    return i < 0 ? undefined : i;
  }

  #insert(entry: Entry): void {
    // Binary search for the first entry that runs after this one.
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.#entries[mid];
      if (e.priority < entry.priority || (e.priority === entry.priority && e.seq < entry.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.#entries.splice(lo, 0, entry);
  }
}
