-- Trim a brand's mentions stream: drop entries older than the retention cutoff, but never one
-- that is not analysed yet (not cut into a chunk, or in a chunk still pending).
-- KEYS: 1 mentions stream, 2 schedule state, 3 chunks pending
-- ARGV: 1 cutoff entry id ("<ms>-0")
-- Returns the entries removed.
local function before(a, b)  -- stream ids "ms-seq", compared as numbers
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, bm = tonumber(am), tonumber(bm)
  return am < bm or (am == bm and tonumber(as) < tonumber(bs))
end
local cut = redis.call('HGET', KEYS[2], 'cut')
if not cut then return 0 end  -- nothing analysed yet
local keep = ARGV[1]
local after_cut = redis.call('XRANGE', KEYS[1], '(' .. cut, '+', 'COUNT', 1)
if #after_cut > 0 and before(after_cut[1][1], keep) then keep = after_cut[1][1] end
for _, chunk in ipairs(redis.call('HVALS', KEYS[3])) do
  local from = cjson.decode(chunk).fromId
  if from and before(from, keep) then keep = from end
end
return redis.call('XTRIM', KEYS[1], 'MINID', keep)
