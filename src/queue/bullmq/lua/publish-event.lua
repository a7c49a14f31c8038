-- Numbers, keeps and publishes one event. KEYS: job, stream. ARGV: channel, event, keep, ttl.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return emit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
