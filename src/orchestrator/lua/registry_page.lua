-- One page of brands in slug order, after a cursor: cost follows the page, not the registry.
-- KEYS: index to walk (all or one status), docs, search
-- ARGV: cursor ("" from the start), limit, q ("" no filter; else a lower-case substring),
--       budget (most slugs examined when filtering)
-- Returns {next cursor or false, {document, ...}}
local index, docs, search = KEYS[1], KEYS[2], KEYS[3]
local cursor, limit, q, budget = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local start = cursor == '' and '-' or '(' .. cursor

if q == '' then
  local slugs = redis.call('ZRANGEBYLEX', index, start, '+', 'LIMIT', 0, limit + 1)
  local next_cursor = false
  if #slugs > limit then
    table.remove(slugs)
    next_cursor = slugs[#slugs]
  end
  if #slugs == 0 then return {false, {}} end
  return {next_cursor, redis.call('HMGET', docs, unpack(slugs))}
end

local found, examined, last = {}, 0, nil
while #found < limit and examined < budget do
  local want = math.min(256, budget - examined)
  local batch = redis.call('ZRANGEBYLEX', index, start, '+', 'LIMIT', 0, want)
  if #batch == 0 then last = nil break end
  local texts = redis.call('HMGET', search, unpack(batch))
  for i, slug in ipairs(batch) do
    examined = examined + 1
    last = slug
    if texts[i] and string.find(texts[i], q, 1, true) then
      found[#found + 1] = slug
      if #found == limit then break end
    end
  end
  if #batch < want and #found < limit then last = nil break end
  start = '(' .. last
end
if #found == 0 then return {last or false, {}} end
return {last or false, redis.call('HMGET', docs, unpack(found))}
