-- Publish a batch of reports on the results stream: one command for the whole batch.
-- KEYS: results stream
-- ARGV: report JSON, ...
for i = 1, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'm', ARGV[i])
end
return #ARGV
