-- Read a brand's clusters and their version as one consistent snapshot.
-- KEYS: 1 aggregate hash, 2 clusters hash
-- Returns {version, id, msgpack, id, msgpack, ...}
local reply = redis.call('HGETALL', KEYS[2])
table.insert(reply, 1, redis.call('HGET', KEYS[1], 'clusterVersion') or '0')
return reply
