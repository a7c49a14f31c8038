import { LuaScript } from './lua-script';

/**
 * The record transitions as Lua, so each check-and-write (and the event it
 * publishes) is one atomic step in Redis. PUBLISH inside a script is
 * delivered in script order with respect to every other client's commands.
 */

const isFinal = `local function isFinal(s) return s == 'succeeded' or s == 'failed' or s == 'canceled' end`;

/**
 * Creates the record and its index entries; trims index entries older than
 * the retention time. Scores are `<ms><3-digit sequence>` built as strings:
 * Lua would print a 16-digit number with 14 significant digits.
 * KEYS: job, jobs, owner, seq, models. ARGV: spec, created ms, trim-before score, id, model.
 */
export const createJob = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'spec', ARGV[1], 'status', 'queued', 'attempts', 0)
local score = ARGV[2] .. string.format('%03d', redis.call('INCR', KEYS[4]) % 1000)
redis.call('ZADD', KEYS[2], score, ARGV[4])
redis.call('ZADD', KEYS[3], score, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3])
redis.call('SADD', KEYS[5], ARGV[5])
return 1
`);

/**
 * Publishes a new job's first `queued` event unless a worker already started
 * it (then the start script published it), so `queued` always precedes `started`.
 * KEYS: job. ARGV: channel, event.
 */
export const announceJob = new LuaScript(`
if redis.call('HGET', KEYS[1], 'status') == 'queued' and redis.call('HSETNX', KEYS[1], 'announced', 1) == 1 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
  return 1
end
return 0
`);

/**
 * Any non-final state → running (a stalled job's record may still say running).
 * Returns the record's fields, or nil when it is gone or final.
 * KEYS: job. ARGV: worker, started_at, channel, fallback queued event.
 */
export const startJob = new LuaScript(`
${isFinal}
local status = redis.call('HGET', KEYS[1], 'status')
if not status or isFinal(status) then return false end
if redis.call('HSETNX', KEYS[1], 'announced', 1) == 1 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[1], 'started_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'progress')
return redis.call('HGETALL', KEYS[1])
`);

/** KEYS: job. ARGV: attempt, progress JSON. */
export const saveProgress = new LuaScript(`
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] == 'running' and v[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'progress', ARGV[2])
  return 1
end
return 0
`);

/** running → queued while ARGV[1] is the running attempt. KEYS: job. ARGV: attempt, channel, event. */
export const requeueJob = new LuaScript(`
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] == 'running' and v[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', 'queued')
  redis.call('HDEL', KEYS[1], 'progress', 'worker')
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
`);

/**
 * The only way a job ends: non-final → final, expiry on the record and its
 * results, and the final event, all or nothing. Returns 1 if it moved.
 * KEYS: job, result. ARGV: status, finished_at, result JSON|'', error JSON|'', retention ms, channel, event.
 */
export const finishJob = new LuaScript(`
${isFinal}
local status = redis.call('HGET', KEYS[1], 'status')
if not status or isFinal(status) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
`);

/**
 * Flags a job for cancellation and tells every consumer; the flag covers a
 * worker that claims the job after the message went out.
 * KEYS: job. ARGV: cancel channel, id.
 */
export const requestCancel = new LuaScript(`
${isFinal}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if isFinal(status) then return 'already_finished' end
redis.call('HSET', KEYS[1], 'cancel', 1)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 'cancel_requested'
`);

/**
 * Jobs ahead in the order BullMQ takes them: the \`wait\` list first (from its
 * right end), then \`prioritized\` by score. A job in back-off (\`delayed\`)
 * waits behind everything now waiting. -1: not waiting.
 * KEYS: wait, prioritized, delayed. ARGV: id.
 */
export const jobPosition = new LuaScript(`
local waiting = redis.call('LLEN', KEYS[1])
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
if rank then return waiting + rank end
local index = redis.call('LPOS', KEYS[1], ARGV[1])
if index then return waiting - 1 - index end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return waiting + redis.call('ZCARD', KEYS[2]) end
return -1
`);
