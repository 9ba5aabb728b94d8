-- Compare the original's brands:list (a set, or a list) with the registry's index.
-- KEYS: brands:list, index
-- Returns {{slug listed but not registered, ...}, {slug registered but not listed, ...}}
local list, index = KEYS[1], KEYS[2]
local members
if redis.call('TYPE', list).ok == 'list' then
  members = redis.call('LRANGE', list, 0, -1)
else
  members = redis.call('SMEMBERS', list)
end

local listed, unregistered, unlisted = {}, {}, {}
for _, slug in ipairs(members) do
  listed[slug] = true
  if not redis.call('ZSCORE', index, slug) then unregistered[#unregistered + 1] = slug end
end
for _, slug in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  if not listed[slug] then unlisted[#unlisted + 1] = slug end
end
return {unregistered, unlisted}
