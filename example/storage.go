package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oidcsession/oidcsession/redisstore"
)

// redisPrefix keeps the example's keys apart from those of other apps on
// the same Redis (redisstore's default is "oidcsession:").
const redisPrefix = "oidcsession-example:"

// redisPing bounds the check, at start, that REDIS_URL answers.
const redisPing = 5 * time.Second

// openRedis connects to REDIS_URL and returns a Store on it, and a func
// that closes the Store and the client. A Redis that does not answer at
// start is an error: the demo says so at once rather than answering every
// request with 503 (which is what the Store does if Redis goes away later,
// keeping the sessions until it is back).
func openRedis(ctx context.Context, rawURL string, logger *slog.Logger) (*redisstore.Store, func(), error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		// url.Parse's errors quote the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("REDIS_URL: want redis://[user:password@]host:port/db or rediss://…: %w", err)
	}
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, redisPing)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("REDIS_URL: no answer from Redis at %s: %w", opt.Addr, err)
	}
	st, err := redisstore.New(rdb, redisstore.WithPrefix(redisPrefix))
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	logger.Info("REDIS_URL is set: sessions are kept in Redis (the cookie holds a sealed reference); users can list and sign out their devices",
		"addr", opt.Addr, "db", opt.DB, "tls", opt.TLSConfig != nil, "prefix", redisPrefix)
	return st, func() {
		st.Close()
		rdb.Close()
	}, nil
}
