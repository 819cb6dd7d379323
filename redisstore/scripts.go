package redisstore

import "github.com/redis/go-redis/v9"

// Each step the Store contract calls atomic is one Lua script, run with
// EVALSHA (EVAL once after Redis lost its script cache), so it costs one
// round trip. Every key a script touches is passed in KEYS, with one hash
// tag (keys.go), so the scripts run unchanged on Redis Cluster.
//
// Generations are compared as decimal strings: Lua numbers are doubles.

// putScript writes a record if its stored generation is ARGV[1] ("0": no
// record), and publishes the invalidation.
// KEYS: record. ARGV: prev, gen, encoded record, expires (unix ms),
// channel, invalidation message. Returns 1, or 0 on a conflict.
var putScript = redis.NewScript(`
local g = redis.call('HGET', KEYS[1], 'g') or '0'
if g ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'r', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`)

// deleteScript deletes a record and publishes the invalidation.
// KEYS: record. ARGV: channel, message. Returns the deleted encoded
// record (for its index keys), or nil.
var deleteScript = redis.NewScript(`
local r = redis.call('HGET', KEYS[1], 'r')
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return r
`)

// indexScript adds a session ID to an index set, scored by its record's
// expiry, drops the members that expired, and keeps the set as long as its
// longest-lived member.
// KEYS: index. ARGV: id, expires (unix ms), now (unix ms).
var indexScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], top[2])
return 1
`)

// claimScript returns the published outcome and takes the claim unless
// another holder's claim is live. A claim that already holds ARGV[1] (a
// retried call) counts as taken.
// KEYS: claim, outcome. ARGV: holder, ttl (ms).
// Returns {taken (0/1), the live claim's value, the outcome or nil}.
var claimScript = redis.NewScript(`
local out = redis.call('GET', KEYS[2])
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return {0, held, out} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, ARGV[1], out}
`)

// releaseScript deletes the claim if it still holds ARGV[1].
// KEYS: claim. ARGV: holder.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`)

// publishScript stores a value for a ttl and wakes its watchers.
// KEYS: outcome. ARGV: value, ttl (ms), channel, wake message.
var publishScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`)

// writeRecordLua writes a record if its stored generation is prev, and
// publishes the invalidation. The same write found already stored (same
// generation, same encoded record: a retried call whose first reply was
// lost) counts as written, so a retry never turns a grant's own write into
// a conflict.
const writeRecordLua = `
local function writeRecord(k, prev, gen, enc, exp, channel, msg)
  local cur = redis.call('HMGET', k, 'g', 'r')
  local g = cur[1] or '0'
  if g == prev then
    redis.call('HSET', k, 'g', gen, 'r', enc)
    redis.call('PEXPIREAT', k, exp)
    redis.call('PUBLISH', channel, msg)
    return true
  end
  return g == gen and cur[2] == enc
end
`

// settleScript ends a grant: with a record (KEYS[3]) it first writes it
// (writeRecordLua), and on a conflict returns 0 having done nothing; then
// it publishes the outcome, wakes the watchers and releases the claim if it
// still holds ARGV[1].
// KEYS: claim, outcome[, record]. ARGV: holder, outcome, ttl (ms), channel,
// wake message[, prev, gen, encoded record, expires (unix ms),
// invalidation message]. Returns 1, or 0 on a conflict.
var settleScript = redis.NewScript(writeRecordLua + `
if #KEYS == 3 and not writeRecord(KEYS[3], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[4], ARGV[10]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// settleRecordScript is settleScript's first half alone, for the one case
// its halves live in two Cluster slots (Settle).
// KEYS: record. ARGV: prev, gen, encoded record, expires (unix ms),
// channel, invalidation message. Returns 1, or 0 on a conflict.
var settleRecordScript = redis.NewScript(writeRecordLua + `
if writeRecord(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]) then return 1 end
return 0
`)
