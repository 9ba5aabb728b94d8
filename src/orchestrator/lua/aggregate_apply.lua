-- Apply a batch of chunk results to one brand's aggregate: the processed-markers and every
-- count in one atomic step, so a redelivered or duplicated result changes nothing.
-- KEYS: 1 aggregate hash, 2 applied chunks (zset chunk id -> ms), 3 topics (zset),
--       4 clusters (hash id -> msgpack), 5 minute buckets, 6 hour buckets, 7 day buckets,
--       8 chunks pending (the scheduler's: an applied chunk is pending no more)
-- ARGV: 1 delta JSON, 2 expected cluster version ('' when the batch changes no cluster),
--       3 now (ms), 4 dedup window (ms), 5 JSON {resolution: retention ms},
--       6 JSON [removed cluster ids], then cluster id, msgpack pairs
-- Returns {'ok', cluster version} | {'dup', chunk id, ...} | {'conflict', cluster version}
local delta = cjson.decode(ARGV[1])
local now = tonumber(ARGV[3])

local dups = {}
for _, chunk in ipairs(delta.chunks) do
  if redis.call('ZSCORE', KEYS[2], chunk) then dups[#dups + 1] = chunk end
end
if #dups > 0 then
  table.insert(dups, 1, 'dup')
  return dups
end
local version = redis.call('HGET', KEYS[1], 'clusterVersion') or '0'
if ARGV[2] ~= '' and ARGV[2] ~= version then return {'conflict', version} end

for _, chunk in ipairs(delta.chunks) do
  redis.call('ZADD', KEYS[2], now, chunk)
  redis.call('HDEL', KEYS[8], chunk)
end

local t = delta.totals
redis.call('HINCRBY', KEYS[1], 'chunks', t.c)
redis.call('HINCRBY', KEYS[1], 'mentions', t.v)
redis.call('HINCRBY', KEYS[1], 'positive', t.p)
redis.call('HINCRBY', KEYS[1], 'neutral', t.u)
redis.call('HINCRBY', KEYS[1], 'negative', t.n)
redis.call('HINCRBYFLOAT', KEYS[1], 'score', tostring(t.s))
redis.call('HINCRBY', KEYS[1], 'workerSpikes', delta.workerSpikes)
redis.call('HSET', KEYS[1], 'updatedAt', now)
local last = tonumber(redis.call('HGET', KEYS[1], 'lastProcessedAt') or '0')
if delta.lastProcessedAt >= last then
  redis.call('HSET', KEYS[1], 'lastProcessedAt', delta.lastProcessedAt, 'lastChunk', delta.lastChunk)
end
for topic, n in pairs(t.t) do redis.call('ZINCRBY', KEYS[3], n, topic) end

local function merge_map(into, from)
  for name, n in pairs(from) do into[name] = (into[name] or 0) + n end
end
local bucket_keys = {minute = KEYS[5], hour = KEYS[6], day = KEYS[7]}
for resolution, buckets in pairs(delta.buckets) do
  for start, add in pairs(buckets) do
    local raw = redis.call('HGET', bucket_keys[resolution], start)
    local b = raw and cjson.decode(raw) or {v = 0, c = 0, p = 0, u = 0, n = 0, s = 0, t = {}, k = {}}
    for _, name in ipairs({'v', 'c', 'p', 'u', 'n', 's'}) do b[name] = b[name] + add[name] end
    merge_map(b.t, add.t)
    merge_map(b.k, add.k)
    redis.call('HSET', bucket_keys[resolution], start, cjson.encode(b))
  end
end

if #ARGV > 6 or ARGV[6] ~= '[]' then
  for _, id in ipairs(cjson.decode(ARGV[6])) do redis.call('HDEL', KEYS[4], id) end
  for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
  version = tostring(redis.call('HINCRBY', KEYS[1], 'clusterVersion', 1))
end

-- Expire old markers and buckets once an hour, not on every batch.
if now >= tonumber(redis.call('HGET', KEYS[1], 'trimAt') or '0') then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
  local retention = cjson.decode(ARGV[5])
  for resolution, key in pairs(bucket_keys) do
    local horizon = now - retention[resolution]
    for _, start in ipairs(redis.call('HKEYS', key)) do
      if tonumber(start) < horizon then redis.call('HDEL', key, start) end
    end
  end
  redis.call('HSET', KEYS[1], 'trimAt', now + 3600000)
end
return {'ok', version}
