// Package redisstore keeps oidcsession's server-side sessions, and
// coordinates its refresh grants, in Redis, so that several replicas of an
// application share sessions and spend each rotating refresh token once.
//
//	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"redis:6379"}})
//	st, err := redisstore.New(rdb)
//	...
//	m, err := oidcsession.New(provider, oc, oidcsession.WithStore(st))
//
// or, with sessions kept in cookies, oidcsession.WithCoordinator(st).
//
// It works on any redis.UniversalClient: standalone, Sentinel or Cluster.
// Every call is bounded by a timeout (WithTimeout), and any failure is
// reported as the store being unavailable, which the Middleware answers
// with 503 and keeps the session.
//
// Reads of a session are served from a cache local to the replica when
// nothing changed: every write publishes an invalidation on a Redis pub/sub
// channel, and the cache is trusted only while that channel answers its
// pings, so a change made on one replica reaches every other replica's
// reads within a second whatever happens to the connection.
//
// Values and records are sealed by the Middleware before they get here; a
// dump of Redis holds no readable token. See the README, "Scale-out on
// Redis", for the data layout, Cluster hash tags and what persistence Redis
// needs.
package redisstore
