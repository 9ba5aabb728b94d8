-- Give the lease up, if ARGV owner still holds it (a clean shutdown hands over at once).
-- KEYS: leader
-- ARGV: owner
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
