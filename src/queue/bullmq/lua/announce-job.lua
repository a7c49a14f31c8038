-- Publishes a new job's first `queued` event with its position, unless a
-- worker already started it (then the start script published it), so
-- `queued` always precedes `started`. A job a worker has taken but not yet
-- started is at the front: position 0. Returns the position it published,
-- -1 when it published nothing.
-- KEYS: job, wait, prioritized, delayed, stream. ARGV: id, channel, event without position, keep, ttl.
if redis.call('HGET', KEYS[1], 'status') == 'queued' and redis.call('HSETNX', KEYS[1], 'announced', 1) == 1 then
  local position = math.max(positionOf(KEYS[2], KEYS[3], KEYS[4], ARGV[1]), 0)
  emit(KEYS[1], KEYS[5], ARGV[2], withField(ARGV[3], 'position', position), ARGV[4], ARGV[5])
  return position
end
return -1
