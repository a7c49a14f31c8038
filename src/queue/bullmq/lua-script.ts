import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Redis } from 'ioredis';

type Arg = string | number | Buffer;

/**
 * Folder of the Lua sources (`.lua` files beside this module; the build
 * copies them to dist/, as it does the playground).
 */
export const luaDir = path.join(__dirname, 'lua');

/** The text of `lua/<name>.lua`, read once when the module that needs it loads. */
export function readLua(name: string): string {
  return fs.readFileSync(path.join(luaDir, `${name}.lua`), 'utf8');
}

/** A Lua script run by its SHA (EVALSHA), loaded with EVAL the first time a server lacks it. */
export class LuaScript {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  /** The script in `lua/<name>.lua`. */
  static fromFile(name: string): LuaScript {
    return new LuaScript(readLua(name));
  }

  /** The source as sent to Redis. */
  get source(): string {
    return this.#source;
  }

  async run(redis: Redis, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.#source, keys.length, ...keys, ...args);
    }
  }
}
