-- Functions every transition may call; prepended to each transition script (job-scripts.ts).
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
