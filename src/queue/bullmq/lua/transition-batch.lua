-- Runs a batch of transitions in order (each transition is a function(KEYS, ARGV) in the
-- table `run`, which the loader puts before this, after helpers.lua). ARGV[1]: how many; then
-- for each: transition number, key count, argument count, its arguments; KEYS: every
-- transition's keys in order. Returns one reply per transition; a transition that raised an
-- error returns it as its reply and the rest still run.
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
