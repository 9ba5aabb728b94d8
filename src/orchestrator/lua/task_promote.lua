-- Move retries whose time has come from the delayed set onto the task stream.
-- KEYS: delayed, stream
-- ARGV: now in ms, most to move
-- Returns how many moved.
local delayed, stream = KEYS[1], KEYS[2]
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, task in ipairs(due) do
  redis.call('XADD', stream, '*', 'm', task)
  redis.call('ZREM', delayed, task)
end
return #due
