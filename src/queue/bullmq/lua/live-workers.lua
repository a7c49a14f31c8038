-- Values of the live workers; ids whose key expired leave the set in the same step.
-- KEYS: set. ARGV: key prefix.
local values = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local value = redis.call('GET', ARGV[1] .. id)
  if value then table.insert(values, value) else redis.call('SREM', KEYS[1], id) end
end
return values
