package e2e

import (
	"testing"

	"github.com/oidcsession/oidcsession/redisstore/redistest"
)

// startRedis starts a redis-server for t (redistest: a free loopback port,
// no persistence, stopped when t ends) and returns its URL for the
// example's REDIS_URL. Without redis-server the test is skipped, or fails
// under OIDCSESSION_REDIS=require (as CI runs it).
func startRedis(t *testing.T) string {
	t.Helper()
	return redistest.New(t, redistest.Options{}).URL()
}
