-- Any non-final state → running (a stalled job's record may still say
-- running), publishing `started` with the new attempt (and `queued` first if
-- the job was never announced). Returns the spec, the attempt and the cancel
-- flag, or false when the record is gone or final.
-- KEYS: job, stream. ARGV: worker, started_at, channel, fallback queued event, started event without
-- attempt, keep, ttl.
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'announced', 'spec', 'cancel')
if not v[1] or isFinal(v[1]) then return false end
if not v[3] then emit(KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[6], ARGV[7]) end
local attempt = tonumber(v[2] or 0) + 1
redis.call('HSET', KEYS[1], 'status', 'running', 'attempts', attempt, 'worker', ARGV[1], 'started_at', ARGV[2], 'announced', 1)
redis.call('HDEL', KEYS[1], 'progress')
emit(KEYS[1], KEYS[2], ARGV[3], withField(ARGV[5], 'attempt', attempt), ARGV[6], ARGV[7])
return {v[4], attempt, v[5] or '0'}
