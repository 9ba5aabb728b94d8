-- Take or renew the scheduler lease; a new leader gets a new fencing token.
-- KEYS: leader, fence, since
-- ARGV: owner, ttl in ms, now in ms
-- Returns {1, fence} when ARGV owner holds the lease, {0, fence} otherwise.
local leader, fence, since = KEYS[1], KEYS[2], KEYS[3]
local owner, ttl_ms, now_ms = ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('GET', leader)
if current == owner then
  redis.call('PEXPIRE', leader, ttl_ms)
  return {1, tonumber(redis.call('GET', fence) or '0')}
end
if current then return {0, tonumber(redis.call('GET', fence) or '0')} end
redis.call('SET', leader, owner, 'PX', ttl_ms)
redis.call('SET', since, now_ms)
return {1, redis.call('INCR', fence)}
