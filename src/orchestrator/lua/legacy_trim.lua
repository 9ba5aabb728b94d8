-- Remove the first N items of a legacy results list, if they are still the ones that were read
-- (another replica may have consumed them meanwhile). One key: valid on a cluster.
-- KEYS: 1 the list
-- ARGV: 1 N, 2 SHA-1 of the N items, each as "<byte length>:<item>"
local n = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #items ~= n then return 0 end
local parts = {}
for i, item in ipairs(items) do parts[i] = #item .. ':' .. item end
if redis.sha1hex(table.concat(parts)) ~= ARGV[2] then return 0 end
redis.call('LTRIM', KEYS[1], n, -1)
return n
