import { LuaScript, readLua } from './lua-script';

/**
 * The record transitions as Lua, so each check-and-write (and the event it
 * publishes) is one atomic step in Redis. PUBLISH inside a script is
 * delivered in script order with respect to every other client's commands.
 *
 * Each transition is a function of its own KEYS and ARGV inside one
 * dispatcher script, so that a {@link ScriptBatch} can send every
 * transition a connection asks for in one tick as a single EVALSHA. Their
 * sources are `lua/<kebab-name>.lua` (each file says its KEYS and ARGV),
 * the shared functions `lua/helpers.lua`, the dispatcher loop
 * `lua/transition-batch.lua`; they are read once, when this module loads.
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

/** Argument number of each transition in the dispatcher. */
export const transitionIndex: Readonly<Record<Transition, number>> = Object.freeze(
  Object.fromEntries(Object.keys(transitionFiles).map((name, i) => [name, i + 1])) as Record<
    Transition,
    number
  >,
);

/** Runs a batch of transitions in order (see `lua/transition-batch.lua`). */
export const transitionBatch = new LuaScript(
  [
    readLua('helpers'),
    'local run = {',
    Object.values(transitionFiles)
      .map((file) => `function(KEYS, ARGV)\n${readLua(file)}end`)
      .join(',\n'),
    '}',
    readLua('transition-batch'),
  ].join('\n'),
);
