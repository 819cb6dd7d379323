package redisstore

import (
	"testing"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/storetest"
)

// TestConformance runs the Store contract's checks against Redis.
func TestConformance(t *testing.T) {
	srv := startRedis(t)
	storetest.Run(t, func(t *testing.T) oidcsession.Store { return srv.newStore(t) })
}

// TestConformanceWithoutCache: the same with every read going to Redis.
func TestConformanceWithoutCache(t *testing.T) {
	srv := startRedis(t)
	storetest.Run(t, func(t *testing.T) oidcsession.Store { return srv.newStore(t, WithCacheSize(0)) })
}

// TestConformanceOnCluster: the same through a ClusterClient on a
// one-node Redis Cluster, which refuses a script whose keys span slots:
// the hash tags keep every script in one slot.
func TestConformanceOnCluster(t *testing.T) {
	srv := startRedisCluster(t)
	storetest.Run(t, func(t *testing.T) oidcsession.Store { return srv.newStore(t) })
}
