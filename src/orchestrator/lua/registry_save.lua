-- Create or replace one brand and every structure derived from it, atomically (brands:list,
-- in another hash slot on a cluster, follows in a step of its own).
-- KEYS: docs, versions, search, index, active, paused, due, listed-tracked (a flag: this store
--       keeps the marks of the slugs the service listed)
-- ARGV: slug, document, version, expected ("" create only | "*" any | a version),
--       status, search text, due time in ms, due mode ("set" | "keep")
-- Returns {"ok"} | {"exists", version} | {"missing"} | {"stale", version}
local docs, versions, search, index, active, paused, due, tracked =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local slug, document, version, expected, status, text, due_ms, due_mode =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]

local current = redis.call('HGET', versions, slug)
if expected == '' then
  if current then return {'exists', current} end
elseif not current then
  return {'missing'}
elseif expected ~= '*' and current ~= expected then
  return {'stale', current}
end

redis.call('HSET', docs, slug, document)
redis.call('HSET', versions, slug, version)
redis.call('HSET', search, slug, text)
redis.call('ZADD', index, 0, slug)
if status == 'active' then
  redis.call('ZADD', active, 0, slug)
  redis.call('ZREM', paused, slug)
  if due_mode == 'set' then
    redis.call('ZADD', due, due_ms, slug)
  else
    redis.call('ZADD', due, 'NX', due_ms, slug)
  end
else
  redis.call('ZADD', paused, 0, slug)
  redis.call('ZREM', active, slug)
  redis.call('ZREM', due, slug)
end
redis.call('SET', tracked, '1')
return {'ok'}
