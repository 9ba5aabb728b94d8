-- Copy the lease to one more partition of task distribution (another hash slot), so its
-- dispatch script can check holder and token on its own slot.
-- KEYS: the partition's leader, the partition's fence
-- ARGV: owner, fence, lease time in ms
-- Returns 1, or 0 when the partition knows a newer leader (this one is deposed).
local leader, fence = KEYS[1], KEYS[2]
local owner, token, ttl_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if tonumber(redis.call('GET', fence) or '0') > token then return 0 end
redis.call('SET', fence, ARGV[2])
redis.call('SET', leader, owner, 'PX', ttl_ms)
return 1
