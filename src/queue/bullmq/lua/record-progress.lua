-- Saves progress and publishes its event while ARGV[1] is the running attempt.
-- KEYS: job, stream. ARGV: attempt, progress JSON, channel, event, keep, ttl.
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] == 'running' and v[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'progress', ARGV[2])
  emit(KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
  return 1
end
return 0
