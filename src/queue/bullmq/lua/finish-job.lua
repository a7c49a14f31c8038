-- The only way a job ends: non-final → final, expiry on the record and its
-- results, and the final event (which takes the result or error from the
-- record's field), all or nothing. Returns 1 if it moved.
-- A worker ending its own job passes a fence: its attempt (ARGV[11]), which
-- must still be the record's, and its BullMQ lock token (ARGV[12]), which
-- the lock key must still hold.
-- KEYS: job, result, stream, lock. ARGV: status, finished_at, result JSON|'', error JSON|'',
-- retention ms, channel, event without result or error, keep, ended channel, id, attempt|'', token|''.
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
return 1
