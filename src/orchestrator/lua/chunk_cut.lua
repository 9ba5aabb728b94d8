-- Cut the brand's pending mentions into chunks: contiguous ranges of its mentions stream, at
-- most chunk_size each, cut when a full chunk is waiting or the interval has elapsed.
-- KEYS: mentions, schedule state, pending chunks
-- ARGV: slug, chunk size, now in ms, interval in ms, most chunks to cut
-- Returns when the mentions left waiting (fewer than a chunk) are to be cut, in ms; 0 if none.
local mentions, state, pending = KEYS[1], KEYS[2], KEYS[3]
local slug, size, now_ms, interval_ms, most =
  ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

local fields = redis.call('HMGET', state, 'cut', 'seq', 'cutAt')
local last, seq, cut_at = fields[1] or '0-0', tonumber(fields[2] or '0'), tonumber(fields[3] or '0')
local mentions_cut, ready_at = 0, 0
for _ = 1, most do
  local entries = redis.call('XRANGE', mentions, '(' .. last, '+', 'COUNT', size)
  local n = #entries
  if n == 0 then break end
  if n < size and now_ms - cut_at < interval_ms then
    ready_at = cut_at + interval_ms
    break
  end
  seq = seq + 1
  local chunk = cjson.encode({
    chunkId = slug .. '-' .. seq, fromId = entries[1][1], toId = entries[n][1], count = n,
  })
  redis.call('HSET', pending, slug .. '-' .. seq, chunk)
  last, cut_at = entries[n][1], now_ms
  mentions_cut = mentions_cut + n
end
if mentions_cut > 0 then
  redis.call('HSET', state, 'cut', last, 'seq', seq, 'cutAt', cut_at)
  -- mentions counted in by ingestion (others may reach the stream: never below 0)
  if redis.call('HINCRBY', state, 'uncut', -mentions_cut) < 0 then
    redis.call('HSET', state, 'uncut', 0)
  end
end
return ready_at
