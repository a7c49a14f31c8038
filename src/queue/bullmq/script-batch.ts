import type { Redis } from 'ioredis';
import { transitionBatch, transitionIndex, type Transition } from './job-scripts';

type Arg = string | number;

interface Call {
  readonly transition: Transition;
  readonly keys: readonly string[];
  readonly args: readonly Arg[];
  resolve(reply: unknown): void;
  reject(err: unknown): void;
}

/** Transitions per EVALSHA: bounds how long one batch holds Redis (a few ms at most). */
const MAX_BATCH = 128;

/**
 * Sends the record transitions one connection asks for in the same tick as
 * one EVALSHA (see `transitionBatch`), in the order they were asked for.
 * Under load (a burst of enqueues, a consumer finishing one job and starting
 * the next) that is one command where there would be dozens: per command,
 * ioredis and Redis each spend more than the transition itself costs. A
 * lone transition waits for nothing but the end of the current tick.
 *
 * Each transition stays atomic (the whole batch is), and one that fails
 * rejects only its own caller.
 */
export class ScriptBatch {
  readonly #redis: Redis;
  #calls: Call[] = [];

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  run(transition: Transition, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#calls.length === 0) process.nextTick(() => this.#flush());
      this.#calls.push({ transition, keys, args, resolve, reject });
    });
  }

  #flush(): void {
    const calls = this.#calls;
    this.#calls = [];
    for (let i = 0; i < calls.length; i += MAX_BATCH) void this.#send(calls.slice(i, i + MAX_BATCH));
  }

  async #send(calls: readonly Call[]): Promise<void> {
    const keys: string[] = [];
    const args: Arg[] = [calls.length];
    for (const call of calls) {
      keys.push(...call.keys);
      args.push(transitionIndex[call.transition], call.keys.length, call.args.length, ...call.args);
    }
    let replies: unknown;
    try {
      replies = await transitionBatch.run(this.#redis, keys, args);
    } catch (err) {
      for (const call of calls) call.reject(err);
      return;
    }
    calls.forEach((call, i) => {
      const reply = Array.isArray(replies) ? (replies[i] as unknown) : undefined;
      if (reply instanceof Error) call.reject(reply);
      else call.resolve(reply);
    });
  }
}
