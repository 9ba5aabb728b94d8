-- Acknowledge and delete a batch of entries read through a consumer group (applied reports,
-- finished tasks): their ids travel once, not twice.
-- KEYS: 1 the stream
-- ARGV: 1 consumer group, then entry ids (at most a few thousand: Lua's unpack limit)
local ids = {unpack(ARGV, 2)}
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
