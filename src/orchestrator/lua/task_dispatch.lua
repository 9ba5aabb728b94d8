-- Put one task on the stream if this leader still holds the lease and the caps allow it.
-- KEYS: leader, fence, stream (of the task's kind), in_flight, chunks, active, dead_chunks, kinds,
--       entries
-- ARGV: owner, fence, brand, max in flight for the brand, global max, chunk id ("" none),
--       task id, task JSON, active-entry JSON, kind
-- Returns "ok" | "not-leader" | "duplicate" | "dead" | "full" | "saturated"
local leader, fence, stream, in_flight, chunks, active, dead_chunks, kinds, entries =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local owner, token, brand, brand_max, global_max, chunk, task_id, task, entry, kind =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8],
  ARGV[9], ARGV[10]

if redis.call('GET', leader) ~= owner or redis.call('GET', fence) ~= token then
  return 'not-leader'
end
if chunk ~= '' then
  if redis.call('SISMEMBER', chunks, chunk) == 1 then return 'duplicate' end
  if redis.call('SISMEMBER', dead_chunks, chunk) == 1 then return 'dead' end
end
if tonumber(redis.call('HGET', in_flight, brand) or '0') >= brand_max then return 'full' end
if tonumber(redis.call('HGET', in_flight, '*') or '0') >= global_max then return 'saturated' end

redis.call('HSET', entries, task_id, redis.call('XADD', stream, '*', 'm', task))
redis.call('HINCRBY', in_flight, brand, 1)
redis.call('HINCRBY', in_flight, '*', 1)
if chunk ~= '' then redis.call('SADD', chunks, chunk) end
redis.call('HSET', active, task_id, entry)
redis.call('SADD', kinds, kind)
return 'ok'
