-- Acknowledge and delete a batch of entries read through a consumer group (applied reports,
-- finished tasks): their ids travel once, not twice, and in one argument (a client packs one
-- argument far faster than a thousand).
-- KEYS: 1 the stream
-- ARGV: 1 consumer group, 2 the entry ids separated by spaces (at most a few thousand: Lua's
--       unpack limit)
local ids = {}
for id in string.gmatch(ARGV[2], '%S+') do
  ids[#ids + 1] = id
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
