-- Creates the record and its index entries; every 64th creation also trims
-- index entries older than the retention time (`list` skips expired ones
-- meanwhile). Scores are `<ms><3-digit sequence>` built as strings: Lua would
-- print a 16-digit number with 14 significant digits. With a maximum depth
-- (ARGV[6] > 0) it refuses while the model's queue holds that many waiting
-- jobs. 1: created, 0: the id exists, -1: the queue is full.
-- KEYS: job, jobs, owner, seq, models, wait, prioritized, delayed.
-- ARGV: spec, created ms, trim-before score, id, model, max depth (0: none).
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
return 1
