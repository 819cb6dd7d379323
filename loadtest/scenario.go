package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"time"
)

// config bounds a load run. Every scenario has a fixed request count or a
// fixed duration, so a run always ends.
type config struct {
	Concurrency int           // concurrent requests in every scenario
	Duration    time.Duration // each valid-session scenario, when Requests is 0
	Requests    int           // each valid-session scenario: this many requests instead of Duration
	Sessions    int           // distinct sessions, and sessions expiring at once
	PerSession  int           // concurrent requests per expired session in the storms
	Stores      []string      // "cookie", "memory", "redis"
	RedisServer string        // the redis-server binary for the "redis" store
}

func (c config) validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 10000:
		return fmt.Errorf("-c %d: want 1 to 10000", c.Concurrency)
	case c.Requests < 0:
		return fmt.Errorf("-requests %d: want 0 (use -duration) or more", c.Requests)
	case c.Requests == 0 && (c.Duration <= 0 || c.Duration > 10*time.Minute):
		return fmt.Errorf("-duration %s: want more than 0 and at most 10m", c.Duration)
	case c.Sessions < 1 || c.Sessions > 1000000:
		return fmt.Errorf("-sessions %d: want 1 to 1000000", c.Sessions)
	case c.PerSession < 1 || c.PerSession > 100:
		return fmt.Errorf("-per-session %d: want 1 to 100", c.PerSession)
	case len(c.Stores) == 0:
		return fmt.Errorf("-stores: name at least one of cookie, memory, redis")
	}
	for _, s := range c.Stores {
		if _, ok := storeTitles[s]; !ok {
			return fmt.Errorf("-stores: unknown store %q (want cookie, memory or redis)", s)
		}
	}
	return nil
}

// row is one scenario's result.
type row struct {
	store, scenario string
	sessions        int  // sessions the scenario uses
	refresh         bool // a refresh scenario: one grant per session expected
	tryRefresh      bool // through the refresh handler: one POST per session expected
	run
	sent                    int     // HTTP requests sent, warm-up and checks excluded
	others                  float64 // share of the CPUs other processes took meanwhile
	posts                   int     // refresh POSTs (try-refresh)
	grants, attempts, reuse int     // at the provider, over the whole scenario
	before, after, retained mem     // RSS: before (after a GC), after, after a GC
}

// failures lists what makes the row fail the check.
func (r row) failures() []string {
	var f []string
	if r.errors > 0 {
		f = append(f, fmt.Sprintf("%d errors (%v)", r.errors, r.errs))
	}
	want := 0
	if r.refresh {
		want = r.sessions
	}
	if r.grants != want {
		f = append(f, fmt.Sprintf("%d refresh grants, want %d", r.grants, want))
	}
	if r.attempts != r.grants {
		f = append(f, fmt.Sprintf("%d refresh-token requests at the provider, %d successful", r.attempts, r.grants))
	}
	if r.reuse != 0 {
		f = append(f, fmt.Sprintf("%d refresh-token reuse detections", r.reuse))
	}
	if r.tryRefresh && r.posts != r.sessions {
		f = append(f, fmt.Sprintf("%d refresh POSTs for %d sessions, want one each", r.posts, r.sessions))
	}
	return f
}

// runAll runs every scenario on every store in cfg.Stores, in order,
// logging progress to log.
func runAll(ctx context.Context, cfg config, log io.Writer) ([]row, error) {
	var rows []row
	for _, name := range cfg.Stores {
		r, err := runStore(ctx, cfg, name, log)
		rows = append(rows, r...)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", name, err)
		}
	}
	return rows, nil
}

// runStore runs the four scenarios against one deployment:
//
//  1. one valid session;
//  2. cfg.Sessions distinct valid sessions;
//  3. the same sessions expired at once, on the inline route;
//  4. the same sessions (now refreshed) expired at once again, on the
//     try-refresh route, following the browser helper's contract.
func runStore(ctx context.Context, cfg config, name string, log io.Writer) ([]row, error) {
	st, pid, closeStore, err := openStore(ctx, cfg, name)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	a, err := startApp(ctx, cfg.Concurrency, st)
	if err != nil {
		return nil, err
	}
	defer a.close()
	if pid != 0 {
		a.pids = append(a.pids, pid)
	}
	n := cfg.Sessions
	var rows []row
	done := func(r row) {
		rows = append(rows, r)
		fmt.Fprintf(log, "%s: %s: %d requests in %s, %.0f req/s, p50 %s, p99 %s, %d errors, %d grants; other processes took %.0f%% of the CPUs\n",
			name, r.scenario, r.requests, r.elapsed.Round(time.Millisecond), r.rate(),
			fmtDur(percentile(r.lat, 50)), fmtDur(percentile(r.lat, 99)), r.errors, r.grants, 100*r.others)
	}

	one, err := a.signIn(1, 1)
	if err != nil {
		return rows, fmt.Errorf("sign-in: %w", err)
	}
	done(a.validScenario(cfg, name, "valid, 1 session", one))

	t0 := time.Now()
	sessions, err := a.signIn(n, runtime.GOMAXPROCS(0))
	if err != nil {
		return rows, fmt.Errorf("sign-in: %w", err)
	}
	fmt.Fprintf(log, "%s: %d sessions started in %s\n", name, n, time.Since(t0).Round(time.Millisecond))
	done(a.validScenario(cfg, name, fmt.Sprintf("valid, %s sessions", thousands(n)), sessions))

	a.clock.Advance(expire)
	done(a.stormScenario(cfg, name, fmt.Sprintf("%s expiring at once, inline", thousands(n)), sessions, false))

	a.clock.Advance(expire)
	done(a.stormScenario(cfg, name, fmt.Sprintf("%s expiring at once, try-refresh", thousands(n)), sessions, true))
	return rows, nil
}

// validScenario requests the inline route with valid sessions, each
// request the next session in turn: a warm-up of one request per session
// (its cookie's first verification in this process, and the connections)
// or cfg.Concurrency requests, whichever is more, then the measured run.
// Every answer must be 200 without Set-Cookie.
func (a *app) validScenario(cfg config, store, name string, sessions []*browser) row {
	n := len(sessions)
	return a.scenario(store, name, n, false, func(r *row) {
		r.add(drive(cfg.Concurrency, max(n, cfg.Concurrency), 0, func(i int) error { return a.valid(sessions[i%n], inlinePath) }), false)
		a.measure(r, func() run {
			return drive(cfg.Concurrency, cfg.Requests, cfg.Duration, func(i int) error { return a.valid(sessions[i%n], inlinePath) })
		})
	})
}

// stormScenario requests sessions whose access tokens have all expired:
// cfg.PerSession requests per session, consecutive so that a session's
// requests run at the same time on different workers, on the inline
// route, or on the try-refresh route as the browser helper does. Then
// every browser must hold a valid session of its own: one more request
// each, answered 200 with no Set-Cookie and no grant.
func (a *app) stormScenario(cfg config, store, name string, sessions []*browser, tryRefresh bool) row {
	n, k := len(sessions), cfg.PerSession
	path, do := inlinePath, a.inline
	if tryRefresh {
		path, do = tryPath, a.tryRefresh
	}
	return a.scenario(store, name, n, true, func(r *row) {
		r.tryRefresh = tryRefresh
		posts := 0
		for _, b := range sessions {
			posts -= b.posts
		}
		a.measure(r, func() run {
			return drive(cfg.Concurrency, n*k, 0, func(i int) error { return do(sessions[i/k]) })
		})
		for _, b := range sessions {
			posts += b.posts
		}
		r.posts = posts
		r.add(drive(cfg.Concurrency, n, 0, func(i int) error { return a.valid(sessions[i], path) }), false)
	})
}

// scenario runs body as one row, with the provider's grant counters read
// before and after, and the process's RSS: before (garbage collected and
// returned to the OS first, so it is what the process holds), right after,
// and after the same collection (what the scenario left behind: sessions,
// caches, the provider's token records).
func (a *app) scenario(store, name string, sessions int, refresh bool, body func(*row)) row {
	r := row{store: store, scenario: name, sessions: sessions, refresh: refresh}
	g, att, reuse := a.grants()
	debug.FreeOSMemory()
	r.before = readMem()
	body(&r)
	r.after = readMem()
	debug.FreeOSMemory()
	r.retained = readMem()
	g2, att2, reuse2 := a.grants()
	r.grants, r.attempts, r.reuse = g2-g, att2-att, reuse2-reuse
	return r
}

// measure makes f the measured run of r, with the HTTP requests it sent
// and the CPU time other processes took meanwhile.
func (a *app) measure(r *row, f func() run) {
	sent, cpu := a.sent.Load(), readCPU(a.pids...)
	x := f()
	r.others = others(cpu, readCPU(a.pids...))
	r.sent = int(a.sent.Load() - sent)
	r.add(x, true)
}

// add counts run's errors in r; a measured run also gives r its
// requests, time and latencies (warm-ups and checks do not).
func (r *row) add(x run, measured bool) {
	r.errors += x.errors
	for _, e := range x.errs {
		if len(r.errs) < maxErrs {
			r.errs = append(r.errs, e)
		}
	}
	if measured {
		errs, nerr := r.errs, r.errors
		r.run = x
		r.errs, r.errors = errs, nerr
	}
}
