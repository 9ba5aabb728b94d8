-- Append new mentions to a brand's stream, skipping ids seen within the dedup window, and count
-- each accepted mention in the bucket of when it was written (what "complete" means for spikes)
-- and among the mentions not cut into chunks yet (what tells when the brand can be cut).
-- KEYS: 1 mention ids (zset id -> ms first seen), 2 mentions stream, 3 expected (hash),
--       4 schedule state (hash)
-- ARGV: 1 now (ms), 2 dedup window (ms), 3 most ids kept,
--       then per mention: id, JSON, minute bucket start (ms), hour bucket start (ms)
-- Returns {accepted, duplicates, mentions uncut, last cut (ms), index of each duplicate...}
local now = tonumber(ARGV[1])
local accepted, duplicates = 0, {}
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then
    duplicates[#duplicates + 1] = (i - 4) / 4 + 1
  else
    redis.call('ZADD', KEYS[1], now, id)
    redis.call('XADD', KEYS[2], '*', 'm', ARGV[i + 1])
    redis.call('HINCRBY', KEYS[3], 'minute:' .. ARGV[i + 2], 1)
    redis.call('HINCRBY', KEYS[3], 'hour:' .. ARGV[i + 3], 1)
    accepted = accepted + 1
  end
end
if now >= tonumber(redis.call('HGET', KEYS[3], 'trimAt') or '0') then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
  local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
  if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1) end
  for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do  -- counts of expired buckets
    local resolution, start = string.match(field, '^(%a+):(%d+)$')
    local keep = resolution == 'minute' and 172800000 or 7776000000
    if start and tonumber(start) < now - keep then redis.call('HDEL', KEYS[3], field) end
  end
  redis.call('HSET', KEYS[3], 'trimAt', now + 3600000)
end
if accepted > 0 then redis.call('HINCRBY', KEYS[4], 'uncut', accepted) end
local state = redis.call('HMGET', KEYS[4], 'uncut', 'cutAt')
local reply = {accepted, #duplicates, tonumber(state[1] or '0'), tonumber(state[2] or '0')}
for _, index in ipairs(duplicates) do reply[#reply + 1] = index end
return reply
