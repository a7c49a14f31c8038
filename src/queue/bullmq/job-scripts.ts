import { LuaScript } from './lua-script';

/**
 * The record transitions as Lua, so each check-and-write (and the event it
 * publishes) is one atomic step in Redis. PUBLISH inside a script is
 * delivered in script order with respect to every other client's commands.
 *
 * Each transition is a function of its own KEYS and ARGV inside one
 * dispatcher script, so that a {@link ScriptBatch} can send every
 * transition a connection asks for in one tick as a single EVALSHA.
 */

const helpers = `
local function isFinal(s) return s == 'succeeded' or s == 'failed' or s == 'canceled' end

-- Appends one field, given as raw JSON, to a JSON object: events whose last field only the
-- script knows (the attempt, the queue position) or that it already has as an argument (the
-- result), without JSON in Lua and without sending the same JSON twice.
local function withField(json, name, raw) return string.sub(json, 1, -2) .. ',"' .. name .. '":' .. raw .. '}' end

-- Jobs ahead in the order BullMQ takes them: the wait list first (from its right end), then
-- prioritized by score. A job in back-off (delayed) waits behind everything now waiting.
-- -1: not waiting.
-- Numbers a job event (the counter is the job hash's seq field, so a record read with HGETALL
-- says which event it reflects), keeps it in the job's stream under the id 0-<seq> (trimmed to
-- about keep entries, expiring after ttl ms) and publishes it. Returns the seq.
local function emit(job, stream, channel, event, keep, ttl)
  local seq = redis.call('HINCRBY', job, 'seq', 1)
  event = withField(event, 'seq', seq)
  redis.call('XADD', stream, 'MAXLEN', '~', keep, '0-' .. seq, 'e', event)
  redis.call('PEXPIRE', stream, ttl)
  redis.call('PUBLISH', channel, event)
  return seq
end

local function positionOf(wait, prioritized, delayed, id)
  local waiting = redis.call('LLEN', wait)
  local rank = redis.call('ZRANK', prioritized, id)
  if rank then return waiting + rank end
  local index = redis.call('LPOS', wait, id)
  if index then return waiting - 1 - index end
  if redis.call('ZSCORE', delayed, id) then return waiting + redis.call('ZCARD', prioritized) end
  return -1
end
`;

const transitions = {
  /**
   * Creates the record and its index entries; every 64th creation also trims
   * index entries older than the retention time (`list` skips expired ones
   * meanwhile). Scores are `<ms><3-digit sequence>` built as strings: Lua would
   * print a 16-digit number with 14 significant digits. With a maximum depth
   * (ARGV[6] > 0) it refuses while the model's queue holds that many waiting
   * jobs. 1: created, 0: the id exists, -1: the queue is full.
   * KEYS: job, jobs, owner, seq, models, wait, prioritized, delayed.
   * ARGV: spec, created ms, trim-before score, id, model, max depth (0: none).
   */
  createJob: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local max = tonumber(ARGV[6])
if max > 0 and redis.call('LLEN', KEYS[6]) + redis.call('ZCARD', KEYS[7]) + redis.call('ZCARD', KEYS[8]) >= max then
  return -1
end
redis.call('HSET', KEYS[1], 'spec', ARGV[1], 'status', 'queued', 'attempts', 0)
local seq = redis.call('INCR', KEYS[4])
local score = ARGV[2] .. string.format('%03d', seq % 1000)
redis.call('ZADD', KEYS[2], score, ARGV[4])
redis.call('ZADD', KEYS[3], score, ARGV[4])
if seq % 64 == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3])
end
redis.call('SADD', KEYS[5], ARGV[5])
return 1`,

  /**
   * Publishes a new job's first `queued` event with its position, unless a
   * worker already started it (then the start script published it), so
   * `queued` always precedes `started`. A job a worker has taken but not yet
   * started is at the front: position 0. Returns the position it published,
   * -1 when it published nothing.
   * KEYS: job, wait, prioritized, delayed, stream. ARGV: id, channel, event without position, keep, ttl.
   */
  announceJob: `
if redis.call('HGET', KEYS[1], 'status') == 'queued' and redis.call('HSETNX', KEYS[1], 'announced', 1) == 1 then
  local position = math.max(positionOf(KEYS[2], KEYS[3], KEYS[4], ARGV[1]), 0)
  emit(KEYS[1], KEYS[5], ARGV[2], withField(ARGV[3], 'position', position), ARGV[4], ARGV[5])
  return position
end
return -1`,

  /**
   * Any non-final state → running (a stalled job's record may still say
   * running), publishing `started` with the new attempt (and `queued` first if
   * the job was never announced). Returns the spec, the attempt and the cancel
   * flag, or false when the record is gone or final.
   * KEYS: job, stream. ARGV: worker, started_at, channel, fallback queued event, started event without
   * attempt, keep, ttl.
   */
  startJob: `
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'announced', 'spec', 'cancel')
if not v[1] or isFinal(v[1]) then return false end
if not v[3] then emit(KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[6], ARGV[7]) end
local attempt = tonumber(v[2] or 0) + 1
redis.call('HSET', KEYS[1], 'status', 'running', 'attempts', attempt, 'worker', ARGV[1], 'started_at', ARGV[2], 'announced', 1)
redis.call('HDEL', KEYS[1], 'progress')
emit(KEYS[1], KEYS[2], ARGV[3], withField(ARGV[5], 'attempt', attempt), ARGV[6], ARGV[7])
return {v[4], attempt, v[5] or '0'}`,

  /**
   * Saves progress and publishes its event while ARGV[1] is the running attempt.
   * KEYS: job, stream. ARGV: attempt, progress JSON, channel, event, keep, ttl.
   */
  recordProgress: `
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] == 'running' and v[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'progress', ARGV[2])
  emit(KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
  return 1
end
return 0`,

  /**
   * running → queued while ARGV[1] is the running attempt.
   * KEYS: job, stream. ARGV: attempt, channel, event, keep, ttl.
   */
  requeueJob: `
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] == 'running' and v[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', 'queued')
  redis.call('HDEL', KEYS[1], 'progress', 'worker')
  emit(KEYS[1], KEYS[2], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
  return 1
end
return 0`,

  /**
   * The only way a job ends: non-final → final, expiry on the record and its
   * results, and the final event (which takes the result or error from the
   * record's field), all or nothing. Returns 1 if it moved.
   * A worker ending its own job passes a fence: its attempt (ARGV[11]), which
   * must still be the record's, and its BullMQ lock token (ARGV[12]), which
   * the lock key must still hold.
   * KEYS: job, result, stream, lock. ARGV: status, finished_at, result JSON|'', error JSON|'',
   * retention ms, channel, event without result or error, keep, ended channel, id, attempt|'', token|''.
   */
  finishJob: `
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if not v[1] or isFinal(v[1]) then return 0 end
if ARGV[11] ~= '' and v[2] ~= ARGV[11] then return 0 end
if ARGV[12] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[12] then return 0 end
local event = ARGV[7]
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'result', ARGV[3])
  event = withField(event, 'result', ARGV[3])
elseif ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'error', ARGV[4])
  event = withField(event, 'error', ARGV[4])
else
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
emit(KEYS[1], KEYS[3], ARGV[6], event, ARGV[8], ARGV[5])
redis.call('PUBLISH', ARGV[9], ARGV[10])
return 1`,

  /**
   * Flags a job for cancellation and tells every consumer; the flag covers a
   * worker that claims the job after the message went out.
   * KEYS: job. ARGV: cancel channel, id.
   */
  requestCancel: `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if isFinal(status) then return 'already_finished' end
redis.call('HSET', KEYS[1], 'cancel', 1)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 'cancel_requested'`,

  /** Numbers, keeps and publishes one event. KEYS: job, stream. ARGV: channel, event, keep, ttl. */
  publishEvent: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return emit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])`,

  /** See positionOf. KEYS: wait, prioritized, delayed. ARGV: id. */
  jobPosition: `
return positionOf(KEYS[1], KEYS[2], KEYS[3], ARGV[1])`,
} as const;

export type Transition = keyof typeof transitions;

/** Argument number of each transition in the dispatcher. */
export const transitionIndex: Readonly<Record<Transition, number>> = Object.freeze(
  Object.fromEntries(Object.keys(transitions).map((name, i) => [name, i + 1])) as Record<Transition, number>,
);

/**
 * Runs a batch of transitions in order. ARGV[1]: how many; then for each:
 * transition number, key count, argument count, its arguments; KEYS: every
 * transition's keys in order. Returns one reply per transition; a
 * transition that raised an error returns it as its reply and the rest
 * still run.
 */
export const transitionBatch = new LuaScript(`
${helpers}
local run = {
${Object.values(transitions)
  .map((body) => `function(KEYS, ARGV)${body}\nend`)
  .join(',\n')}
}
local replies = {}
local k, a = 0, 2
for i = 1, tonumber(ARGV[1]) do
  local nkeys, nargs = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local keys, args = {}, {}
  for j = 1, nkeys do keys[j] = KEYS[k + j] end
  for j = 1, nargs do args[j] = ARGV[a + 2 + j] end
  local ok, reply = pcall(run[tonumber(ARGV[a])], keys, args)
  if ok then
    replies[i] = reply
  else
    replies[i] = redis.error_reply(type(reply) == 'table' and reply.err or tostring(reply))
  end
  k, a = k + nkeys, a + 3 + nargs
end
return replies
`);
