-- Release a finished task's place in the caps (idempotent: the second call finds nothing).
-- KEYS: active, in_flight, chunks
-- ARGV: task id
-- Returns the brand when the task was in flight, false otherwise.
local active, in_flight, chunks = KEYS[1], KEYS[2], KEYS[3]
local entry = redis.call('HGET', active, ARGV[1])
if not entry then return false end
local info = cjson.decode(entry)
redis.call('HDEL', active, ARGV[1])
for _, field in ipairs({info.brand, '*'}) do
  if redis.call('HINCRBY', in_flight, field, -1) <= 0 then redis.call('HDEL', in_flight, field) end
end
if type(info.chunk) == 'string' and info.chunk ~= '' then redis.call('SREM', chunks, info.chunk) end
return info.brand
