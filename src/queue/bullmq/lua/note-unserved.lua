-- Notes models without a live worker, forgets the others, in one step (API replicas may race).
-- KEYS: hash. ARGV: now, then the unserved models. Returns model, since, model, since …
local keep = {}
for i = 2, #ARGV do
  keep[ARGV[i]] = true
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1])
end
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if keep[all[i]] then
    table.insert(out, all[i])
    table.insert(out, all[i + 1])
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
