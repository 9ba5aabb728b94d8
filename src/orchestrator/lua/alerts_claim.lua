-- Claim the brands whose alerts are due: each claimed brand's score moves to ARGV now + lease,
-- so no other replica takes it until the claim runs out (a replica that died mid-delivery).
-- KEYS: alert-due (sorted set: slug → when its next delivery is due, ms)
-- ARGV: now (ms), lease (ms), limit
-- Returns: slug, claim score, slug, claim score, ...
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for _, slug in ipairs(due) do
  redis.call('ZADD', KEYS[1], now + lease, slug)
  claimed[#claimed + 1] = slug
  claimed[#claimed + 1] = redis.call('ZSCORE', KEYS[1], slug)
end
return claimed
