-- Settle a claimed brand, unless a new spike re-raised it meanwhile (its score changed):
-- schedule its next due delivery, or forget it when none is left.
-- KEYS: alert-due
-- ARGV: slug, the claim's score (as claimed), next due (ms) or ''
if redis.call('ZSCORE', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then return redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
