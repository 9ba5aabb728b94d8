-- Remove one brand and every structure derived from it, atomically (brands:list, in another
-- hash slot on a cluster, follows in a step of its own).
-- KEYS: docs, versions, search, index, active, paused, due, listed (slugs this service has put
--       in brands:list)
-- ARGV: slug, unlisted ("1": another tool removed the slug from brands:list; delete only if
--       this service had listed it, and forget that it had)
-- Returns 1 when the brand existed, 0 otherwise.
local docs, versions, search, index, active, paused, due, listed =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local slug, unlisted = ARGV[1], ARGV[2]

if unlisted == '1' then
  if redis.call('SISMEMBER', listed, slug) == 0 then return 0 end
  redis.call('SREM', listed, slug)
end
local existed = redis.call('HDEL', versions, slug)
redis.call('HDEL', docs, slug)
redis.call('HDEL', search, slug)
redis.call('ZREM', index, slug)
redis.call('ZREM', active, slug)
redis.call('ZREM', paused, slug)
redis.call('ZREM', due, slug)
return existed
