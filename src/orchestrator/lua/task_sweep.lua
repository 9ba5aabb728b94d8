-- Release a task presumed lost: a worker settled it (its entry is off the stream) but no
-- result released it, as when a failover lost the result after the task was acknowledged.
-- The caller has seen it so for the grace period; this checks that nothing moved meanwhile.
-- KEYS: active, in_flight, chunks, entries, stream (of the task's kind)
-- ARGV: task id, its entry id on the stream
-- Returns the task's brand when it was released, false otherwise.
local active, in_flight, chunks, entries, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local task_id, entry_id = ARGV[1], ARGV[2]

if redis.call('HGET', entries, task_id) ~= entry_id then return false end -- retried, or done
if #redis.call('XRANGE', stream, entry_id, entry_id) > 0 then return false end -- still queued
redis.call('HDEL', entries, task_id)
local entry = redis.call('HGET', active, task_id)
if not entry then return false end
local info = cjson.decode(entry)
redis.call('HDEL', active, task_id)
for _, field in ipairs({info.brand, '*'}) do
  if redis.call('HINCRBY', in_flight, field, -1) <= 0 then redis.call('HDEL', in_flight, field) end
end
if type(info.chunk) == 'string' and info.chunk ~= '' then redis.call('SREM', chunks, info.chunk) end
return info.brand
