-- Release finished tasks' places in the caps (idempotent: a second call finds nothing).
-- KEYS: active, in_flight, chunks
-- ARGV: task id, ...
-- Returns, per task id, its brand when it was in flight, false otherwise.
local active, in_flight, chunks = KEYS[1], KEYS[2], KEYS[3]
local brands, released = {}, 0
for i, task_id in ipairs(ARGV) do
  local entry = redis.call('HGET', active, task_id)
  brands[i] = false
  if entry then
    local info = cjson.decode(entry)
    redis.call('HDEL', active, task_id)
    if redis.call('HINCRBY', in_flight, info.brand, -1) <= 0 then
      redis.call('HDEL', in_flight, info.brand)
    end
    if type(info.chunk) == 'string' and info.chunk ~= '' then
      redis.call('SREM', chunks, info.chunk)
    end
    brands[i] = info.brand
    released = released + 1
  end
end
if released > 0 and redis.call('HINCRBY', in_flight, '*', -released) <= 0 then
  redis.call('HDEL', in_flight, '*')
end
return brands
