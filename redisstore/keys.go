package redisstore

import "strings"

// The Redis keys, all under the prefix (default "oidcsession:"):
//
//	<p>{<id>}:rec            hash: g = generation, r = the encoded record (record.go)
//	<p>{<index key>}:idx     sorted set: session IDs scored by their record's expiry (ms)
//	<p>{<tag>}:claim:<key>   string: the live claim on a coordinator key
//	<p>{<tag>}:out:<key>     string: the outcome published under a coordinator key
//	<p>events                pub/sub channel: invalidations and wake-ups (events.go)
//
// The braces are Cluster hash tags. A script that touches several keys
// needs them in one slot: Settle writes a session's record together with
// the claim and outcome of its grant, so the tag of a grant key is the
// session's ID (tagOf). Index sets are written beside the record, not in
// its script (see List), so each lives in its own slot.

// keys builds the Redis keys under one prefix.
type keys struct{ prefix string }

func (k keys) record(id string) string   { return k.prefix + "{" + id + "}:rec" }
func (k keys) index(ix string) string    { return k.prefix + "{" + ix + "}:idx" }
func (k keys) claim(key string) string   { return k.prefix + "{" + tagOf(key) + "}:claim:" + key }
func (k keys) outcome(key string) string { return k.prefix + "{" + tagOf(key) + "}:out:" + key }
func (k keys) events() string            { return k.prefix + "events" }

// tagOf is the hash tag of a coordinator key. The Middleware names the
// grant of a stored session "s:<id>:<generation>" and its sign-out
// "ended:<id>": both get the session's ID, the record's tag, so Settle's
// one script can write the record and publish the outcome in Cluster mode.
// Any other key (a cookie session's "rt:<hash>") is its own tag.
func tagOf(key string) string {
	if rest, ok := strings.CutPrefix(key, "s:"); ok {
		if i := strings.LastIndexByte(rest, ':'); i > 0 {
			return rest[:i]
		}
	}
	if id, ok := strings.CutPrefix(key, "ended:"); ok && id != "" {
		return id
	}
	return key
}
