-- Settle a failed delivery: acknowledge it, then either schedule the retry or dead-letter it.
-- KEYS: stream (of the task's kind), delayed (of the kind), dead, dead_index, dead_chunks, active,
--       in_flight, chunks, entries
-- ARGV: group, entry id, task id, retry JSON ("" to dead-letter), retry time in ms,
--       dead-letter JSON, chunk id ("" none)
-- Returns "retry" | "dead" | "stale" (the entry was acknowledged already: someone else settled it)
local stream, delayed, dead, dead_index, dead_chunks, active, in_flight, chunks, entries =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local group, entry_id, task_id, retry, retry_ms, letter, chunk =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

if redis.call('XACK', stream, group, entry_id) == 0 then return 'stale' end
redis.call('XDEL', stream, entry_id)
if task_id ~= '' then redis.call('HDEL', entries, task_id) end -- off the stream until promoted
if retry ~= '' then
  redis.call('ZADD', delayed, retry_ms, retry)
  return 'retry'
end

local dead_id = redis.call('XADD', dead, '*', 'm', letter)
if task_id ~= '' then redis.call('HSET', dead_index, task_id, dead_id) end
if chunk ~= '' then redis.call('SADD', dead_chunks, chunk) end
local entry = task_id ~= '' and redis.call('HGET', active, task_id)
if entry then
  local info = cjson.decode(entry)
  redis.call('HDEL', active, task_id)
  for _, field in ipairs({info.brand, '*'}) do
    if redis.call('HINCRBY', in_flight, field, -1) <= 0 then redis.call('HDEL', in_flight, field) end
  end
  if chunk ~= '' then redis.call('SREM', chunks, chunk) end
end
return 'dead'
