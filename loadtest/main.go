// Command loadtest is a bounded load test of oidcsession on loopback.
//
// In one process it starts the in-process OpenID provider
// (oidcsessiontest, over HTTP), an application server with the middleware
// (Require() on /app, Require(TryRefresh()) on /api, RefreshHandler on
// POST /auth/refresh) and a load client, and runs, for each session
// storage in -stores:
//
//  1. one valid session, -c concurrent requests, for -duration (or
//     -requests);
//  2. -sessions distinct valid sessions, the same;
//  3. those sessions expiring at once (the shared clock jumps past their
//     access tokens' expiry), -per-session concurrent requests each on
//     the inline route;
//  4. the same sessions expiring at once again, on the try-refresh route:
//     401 try_refresh, one POST /auth/refresh per browser, the retry, as
//     js/oidcsession.js does; the latency is the retried request's, from
//     its first send.
//
// It prints requests per second, p50 and p99 latency, errors, refresh
// grants counted at the provider, reuse detections and the process's RSS
// before and after each scenario as Markdown, and exits 1 if any request
// failed, a refresh scenario did not cost exactly one grant per session
// (and the try-refresh one exactly one POST per session), a valid-session
// scenario cost any grant, or the provider saw a refresh token presented
// twice. It also reports how much of the CPUs other processes took during
// each measured run, so a disturbed run on a shared machine shows. Client, application and provider share the
// machine's cores, so the rates are the whole system's on this machine.
//
//	go run ./loadtest                       # from the repository root
//	go run ./loadtest -stores cookie,memory,redis
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	cfg := config{}
	var stores string
	flag.IntVar(&cfg.Concurrency, "c", 50, "concurrent requests")
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Second, "how long each valid-session scenario runs, after its warm-up")
	flag.IntVar(&cfg.Requests, "requests", 0, "run each valid-session scenario for this many requests instead of -duration")
	flag.IntVar(&cfg.Sessions, "sessions", 1000, "distinct sessions, and sessions expiring at once")
	flag.IntVar(&cfg.PerSession, "per-session", 4, "concurrent requests per session when its token has expired")
	flag.StringVar(&stores, "stores", "cookie,memory", "session storage to measure, in order: cookie, memory, redis (starts -redis-server on a free loopback port)")
	flag.StringVar(&cfg.RedisServer, "redis-server", "redis-server", "the redis-server binary, for -stores redis")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "loadtest: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	for s := range strings.SplitSeq(stores, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Stores = append(cfg.Stores, s)
		}
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}

	start := readMem()
	rows, err := runAll(context.Background(), cfg, os.Stderr)
	printReport(os.Stdout, cfg, rows, start, readMem())
	failed := false
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		failed = true
	}
	for _, r := range rows {
		for _, f := range r.failures() {
			fmt.Fprintf(os.Stderr, "loadtest: FAIL %s, %s: %s\n", r.store, r.scenario, f)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "loadtest: PASS")
}
