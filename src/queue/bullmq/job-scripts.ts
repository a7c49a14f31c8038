import { LuaScript, readLua } from './lua-script';

/**
 * The record transitions as Lua, so each check-and-write (and the event it
 * publishes) is one atomic step in Redis. PUBLISH inside a script is
 * delivered in script order with respect to every other client's commands.
 * Each transition is its own script: `lua/<kebab-name>.lua` (each file says
 * its KEYS and ARGV) after the shared functions of `lua/helpers.lua`, read
 * once, when this module loads.
 */
const transitionFiles = {
  createJob: 'create-job',
  announceJob: 'announce-job',
  startJob: 'start-job',
  recordProgress: 'record-progress',
  requeueJob: 'requeue-job',
  finishJob: 'finish-job',
  requestCancel: 'request-cancel',
  publishEvent: 'publish-event',
  jobPosition: 'job-position',
} as const;

export type Transition = keyof typeof transitionFiles;

const helpers = readLua('helpers');

/** One script per transition. */
export const transitionScripts: Readonly<Record<Transition, LuaScript>> = Object.freeze(
  Object.fromEntries(
    Object.entries(transitionFiles).map(([name, file]) => [
      name,
      new LuaScript(`${helpers}\n${readLua(file)}`),
    ]),
  ) as Record<Transition, LuaScript>,
);
