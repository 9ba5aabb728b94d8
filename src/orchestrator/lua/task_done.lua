-- Release finished tasks' places in the caps (idempotent: a second call finds nothing).
-- KEYS: active, in_flight, chunks, entries
-- ARGV: 1 the task ids, a JSON array (one argument: a client packs it far faster than many)
-- Returns, per task id, its brand when it was in flight, false otherwise.
-- A batch costs a few commands, not a few per task: one HMGET and one HDEL per slice of ids,
-- one HINCRBY per brand, one SREM; a task id given twice is released once.
local active, in_flight, chunks, entries = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local SLICE = 1000 -- ids per command (Lua's unpack limit is a few thousand)
local task_ids = cjson.decode(ARGV[1])
local brands, seen, counts, ids, finished = {}, {}, {}, {}, {}
local released = 0

local function sliced(command, key, list)
  for first = 1, #list, SLICE do
    redis.call(command, key, unpack(list, first, math.min(first + SLICE - 1, #list)))
  end
end

for first = 1, #task_ids, SLICE do
  local last = math.min(first + SLICE - 1, #task_ids)
  local entries = redis.call('HMGET', active, unpack(task_ids, first, last))
  for i = first, last do
    local task_id, entry = task_ids[i], entries[i - first + 1]
    brands[i] = false
    if entry and not seen[task_id] then
      seen[task_id] = true
      local info = cjson.decode(entry)
      counts[info.brand] = (counts[info.brand] or 0) + 1
      ids[#ids + 1] = task_id
      if type(info.chunk) == 'string' and info.chunk ~= '' then
        finished[#finished + 1] = info.chunk
      end
      brands[i] = info.brand
      released = released + 1
    end
  end
end
if released > 0 then
  sliced('HDEL', active, ids)
  sliced('HDEL', entries, ids)
  for brand, count in pairs(counts) do
    if redis.call('HINCRBY', in_flight, brand, -count) <= 0 then
      redis.call('HDEL', in_flight, brand)
    end
  end
  sliced('SREM', chunks, finished)
  if redis.call('HINCRBY', in_flight, '*', -released) <= 0 then
    redis.call('HDEL', in_flight, '*')
  end
end
return brands
