package main

import (
	"context"
	"os"
	"testing"

	"github.com/oidcsession/oidcsession/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// quiet drops go-redis's own log lines (failed dials, which
// TestRedisURLErrors provokes); the tests assert what matters.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

// startRedis starts a redis-server for t (redistest: a free loopback
// port, no persistence, stopped when t ends) and returns its REDIS_URL.
// Without redis-server the test is skipped, or fails under
// OIDCSESSION_REDIS=require (as CI runs it). Each test gets its own server:
// the example's keys have a fixed prefix.
func startRedis(t *testing.T) string {
	t.Helper()
	return redistest.New(t, redistest.Options{}).URL()
}
