-- Flags a job for cancellation and tells every consumer; the flag covers a
-- worker that claims the job after the message went out.
-- KEYS: job. ARGV: cancel channel, id.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'not_found' end
if isFinal(status) then return 'already_finished' end
redis.call('HSET', KEYS[1], 'cancel', 1)
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 'cancel_requested'
