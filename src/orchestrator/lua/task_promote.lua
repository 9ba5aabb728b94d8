-- Move retries whose time has come from the delayed set onto the task stream.
-- KEYS: delayed, stream, active, entries
-- ARGV: now in ms, most to move
-- Returns how many moved.
local delayed, stream, active, entries = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, task in ipairs(due) do
  local entry_id = redis.call('XADD', stream, '*', 'm', task)
  local task_id = cjson.decode(task).taskId
  if type(task_id) == 'string' and redis.call('HEXISTS', active, task_id) == 1 then
    redis.call('HSET', entries, task_id, entry_id)
  end
  redis.call('ZREM', delayed, task)
end
return #due
