-- One bounded step of comparing the original's brands:list (a set) with the registry's index,
-- so no call holds the server for long and only the differences cross the network.
-- KEYS: brands:list (a set), index
-- ARGV: "listed" (walk the set: members not registered) or "indexed" (walk the index: slugs
--       not listed), cursor ("0" / "" to start), count
-- Returns {next cursor ("0" / "" when done), {slug, ...}}
local list, index = KEYS[1], KEYS[2]
local phase, cursor, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
if phase == 'listed' then
  local reply = redis.call('SSCAN', list, cursor, 'COUNT', count)
  for _, slug in ipairs(reply[2]) do
    if not redis.call('ZSCORE', index, slug) then out[#out + 1] = slug end
  end
  return {reply[1], out}
end
local start = cursor == '' and '-' or '(' .. cursor
local slugs = redis.call('ZRANGEBYLEX', index, start, '+', 'LIMIT', 0, count)
for _, slug in ipairs(slugs) do
  if redis.call('SISMEMBER', list, slug) == 0 then out[#out + 1] = slug end
end
return {#slugs < count and '' or slugs[#slugs], out}
