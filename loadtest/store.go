package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/redisstore"
	"github.com/oidcsession/oidcsession/redisstore/redistest"
)

// storeTitles names the session storage of each -stores value.
var storeTitles = map[string]string{
	"cookie": "cookies (default)",
	"memory": "server-side, `NewMemoryStore()`",
	"redis":  "server-side, `redisstore` (local Redis)",
}

// openStore returns the Store for name (nil for sessions in cookies), the
// process ID of the server it started (0 for none), and a function that
// releases it.
func openStore(ctx context.Context, cfg config, name string) (oidcsession.Store, int, func(), error) {
	switch name {
	case "cookie":
		return nil, 0, func() {}, nil
	case "memory":
		return oidcsession.NewMemoryStore(), 0, func() {}, nil
	case "redis":
		srv, err := redistest.Start(redistest.Options{Binary: cfg.RedisServer})
		if err != nil {
			return nil, 0, nil, err
		}
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr}})
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			srv.Stop()
			return nil, 0, nil, fmt.Errorf("redis: %w", err)
		}
		st, err := redisstore.New(rdb, redisstore.WithPrefix("loadtest:"))
		if err != nil {
			rdb.Close()
			srv.Stop()
			return nil, 0, nil, err
		}
		return st, srv.PID(), func() {
			st.Close()
			rdb.Close()
			srv.Stop()
		}, nil
	}
	return nil, 0, nil, fmt.Errorf("unknown store %q", name)
}
