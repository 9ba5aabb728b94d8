-- Record a spike evaluation if the detector state is still the one it started from (another
-- replica may have evaluated the same buckets meanwhile): the new state, its events, and the
-- events in the brand's alert outbox, as one step.
-- KEYS: spike state, spike events, alert outbox (one brand: one hash slot)
-- ARGV: the state read ("" when there was none), the new state, events kept,
--       then for each event: its time (ms), its JSON
-- Returns 1 when recorded, 0 when the state had changed (nothing written).
local state, spikes, outbox = KEYS[1], KEYS[2], KEYS[3]
if (redis.call('GET', state) or '') ~= ARGV[1] then return 0 end
redis.call('SET', state, ARGV[2])
if #ARGV > 3 then
  for i = 4, #ARGV, 2 do
    redis.call('ZADD', spikes, ARGV[i], ARGV[i + 1])
    redis.call('RPUSH', outbox, ARGV[i + 1])
  end
  redis.call('ZREMRANGEBYRANK', spikes, 0, -tonumber(ARGV[3]) - 1)
end
return 1
