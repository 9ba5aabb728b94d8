-- Publish a batch of reports on the results stream: one command for the whole batch, with its
-- reports in one argument (a client packs one argument far faster than a thousand).
-- KEYS: results stream
-- ARGV: 1 the reports' lengths in bytes (a JSON array), 2 the reports, one after the other
local lengths, reports, at = cjson.decode(ARGV[1]), ARGV[2], 1
for _, length in ipairs(lengths) do
  redis.call('XADD', KEYS[1], '*', 'm', string.sub(reports, at, at + length - 1))
  at = at + length
end
return #lengths
