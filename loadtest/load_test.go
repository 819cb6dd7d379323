package main

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLoadSmoke runs every scenario with small counts: the script works,
// and its checks pass (no errors, one grant per expired session, none for
// valid ones, no reuse). Redis joins when redis-server is installed.
func TestLoadSmoke(t *testing.T) {
	cfg := config{Concurrency: 20, Requests: 400, Sessions: 50, PerSession: 4, Stores: []string{"cookie", "memory"}, RedisServer: "redis-server"}
	if _, err := exec.LookPath(cfg.RedisServer); err == nil {
		cfg.Stores = append(cfg.Stores, "redis")
	} else {
		t.Log("redis-server is not installed: the redis store is not run")
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	rows, err := runAll(context.Background(), cfg, &log)
	t.Log("\n" + log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4*len(cfg.Stores) {
		t.Fatalf("%d rows for %d stores", len(rows), len(cfg.Stores))
	}
	for _, r := range rows {
		if f := r.failures(); len(f) > 0 {
			t.Errorf("%s, %s: %v", r.store, r.scenario, f)
		}
		want := cfg.Requests
		if r.refresh {
			want = cfg.Sessions * cfg.PerSession
			if r.grants != cfg.Sessions {
				t.Errorf("%s, %s: %d grants", r.store, r.scenario, r.grants)
			}
		}
		if r.requests != want || len(r.lat) != want {
			t.Errorf("%s, %s: %d requests timed, want %d", r.store, r.scenario, r.requests, want)
		}
	}
	var out strings.Builder
	printReport(&out, cfg, rows, readMem(), readMem())
	if got := strings.Count(out.String(), "\n| "); got != 2+len(rows) {
		t.Errorf("the report has %d table lines, want %d:\n%s", got, 2+len(rows), out.String())
	}
}

// TestLoadDetectsFailures checks that the checks fail when they should: a
// storm whose grants the provider refuses, and a storm of requests that
// were never made expired.
func TestLoadDetectsFailures(t *testing.T) {
	cfg := config{Concurrency: 8, Sessions: 8, PerSession: 2}
	a, err := startApp(context.Background(), cfg.Concurrency, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	sessions, err := a.signIn(cfg.Sessions, 2)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no expiry: no grant", func(t *testing.T) {
		r := a.stormScenario(cfg, "cookie", "storm", sessions, false)
		if f := r.failures(); len(f) == 0 || r.grants != 0 {
			t.Errorf("a storm without expiry passed: %d grants, failures %v", r.grants, f)
		}
	})
	t.Run("refused grants", func(t *testing.T) {
		a.clock.Advance(expire)
		a.op.FailNextRefreshes(1, 400, "invalid_grant")
		r := a.stormScenario(cfg, "cookie", "storm", sessions, true)
		f := r.failures()
		if r.errors == 0 || len(f) == 0 {
			t.Errorf("a refused grant passed: %d errors, failures %v", r.errors, f)
		}
	})
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, v := range n {
			d = append(d, time.Duration(v)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 3", ms(1, 2, 3), 50, 2 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := config{Concurrency: 50, Duration: time.Second, Sessions: 10, PerSession: 4, Stores: []string{"cookie"}}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*config){
		"no concurrency":   func(c *config) { c.Concurrency = 0 },
		"no bound":         func(c *config) { c.Duration = 0 },
		"unbounded":        func(c *config) { c.Duration = time.Hour },
		"negative count":   func(c *config) { c.Requests = -1 },
		"no sessions":      func(c *config) { c.Sessions = 0 },
		"no store":         func(c *config) { c.Stores = nil },
		"unknown store":    func(c *config) { c.Stores = []string{"cookie", "mongo"} },
		"zero per session": func(c *config) { c.PerSession = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			c.Stores = slices.Clone(good.Stores)
			change(&c)
			if c.validate() == nil {
				t.Errorf("%+v validated", c)
			}
		})
	}
}
