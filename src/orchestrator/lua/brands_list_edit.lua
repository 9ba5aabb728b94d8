-- Read or change the original's brands:list, a set that older tools may have made a list.
-- One key: valid on a cluster.
-- KEYS: 1 brands:list
-- ARGV: 1 "add" | "remove" | "has", 2 slug
-- Returns 1 when the slug is (add, has) or was (remove) in the list, else 0.
local list, op, slug = KEYS[1], ARGV[1], ARGV[2]
local is_list = redis.call('TYPE', list).ok == 'list'
local found
if is_list then found = redis.call('LPOS', list, slug) ~= false
else found = redis.call('SISMEMBER', list, slug) == 1 end
if op == 'add' and not found then
  if is_list then redis.call('RPUSH', list, slug) else redis.call('SADD', list, slug) end
  return 1
end
if op == 'remove' and found then
  if is_list then redis.call('LREM', list, 0, slug) else redis.call('SREM', list, slug) end
end
return found and 1 or 0
