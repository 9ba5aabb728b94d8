-- Acknowledge and delete a batch of applied reports: their ids travel once, not twice.
-- KEYS: 1 results stream
-- ARGV: 1 consumer group, then entry ids
local ids = {unpack(ARGV, 2)}
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
