-- Remove one brand and every structure derived from it, atomically.
-- KEYS: docs, versions, search, index, active, paused, due, brands:list
-- ARGV: slug, only_if_unlisted ("1": only when the slug is no longer in brands:list)
-- Returns 1 when the brand existed, 0 otherwise.
local docs, versions, search, index, active, paused, due, list =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local slug, only_if_unlisted = ARGV[1], ARGV[2]

local is_list = redis.call('TYPE', list).ok == 'list'
if only_if_unlisted == '1' then
  local listed
  if is_list then listed = redis.call('LPOS', list, slug) else listed = redis.call('SISMEMBER', list, slug) == 1 end
  if listed then return 0 end
end

local existed = redis.call('HDEL', versions, slug)
redis.call('HDEL', docs, slug)
redis.call('HDEL', search, slug)
redis.call('ZREM', index, slug)
redis.call('ZREM', active, slug)
redis.call('ZREM', paused, slug)
redis.call('ZREM', due, slug)
if is_list then redis.call('LREM', list, 0, slug) else redis.call('SREM', list, slug) end
return existed
