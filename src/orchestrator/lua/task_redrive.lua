-- Put a dead-lettered task back on the stream (from the API), or just delete the letter.
-- KEYS: dead, dead_index, dead_chunks, stream (of the task's kind), active, in_flight, chunks,
--       entries
-- ARGV: task id, task JSON ("" to delete only), brand, chunk id ("" none), active-entry JSON
-- Returns 1 when the dead letter existed, 0 otherwise.
local dead, dead_index, dead_chunks, stream, active, in_flight, chunks, entries =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local task_id, task, brand, chunk, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local dead_id = redis.call('HGET', dead_index, task_id)
if not dead_id then return 0 end
redis.call('XDEL', dead, dead_id)
redis.call('HDEL', dead_index, task_id)
if chunk ~= '' then redis.call('SREM', dead_chunks, chunk) end
if task == '' then return 1 end

redis.call('HSET', entries, task_id, redis.call('XADD', stream, '*', 'm', task))
redis.call('HSET', active, task_id, entry)
redis.call('HINCRBY', in_flight, brand, 1)
redis.call('HINCRBY', in_flight, '*', 1)
if chunk ~= '' then redis.call('SADD', chunks, chunk) end
return 1
