package main

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// run is what one bounded load run measured.
type run struct {
	requests int
	errors   int
	errs     []string // the first few distinct errors
	elapsed  time.Duration
	lat      []time.Duration // sorted
}

// maxErrs bounds how many distinct error messages a run keeps.
const maxErrs = 5

// drive calls do(i) for i = 0, 1, 2, … on conc workers, each call timed
// from its start to its return: n calls when n > 0, else as many as start
// within d. Workers take indexes in order, so consecutive indexes run at
// the same time on different workers.
func drive(conc, n int, d time.Duration, do func(i int) error) run {
	var next atomic.Int64
	var mu sync.Mutex
	var r run
	seen := map[string]bool{}
	lats := make([][]time.Duration, conc)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			var mine []time.Duration
			if n > 0 {
				mine = make([]time.Duration, 0, n/conc+1)
			}
			for {
				i := int(next.Add(1)) - 1
				if n > 0 && i >= n {
					break
				}
				t0 := time.Now()
				if n <= 0 && !t0.Before(deadline) {
					break
				}
				err := do(i)
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					r.errors++
					if msg := err.Error(); !seen[msg] && len(r.errs) < maxErrs {
						seen[msg] = true
						r.errs = append(r.errs, msg)
					}
					mu.Unlock()
				}
			}
			lats[w] = mine
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.lat = slices.Concat(lats...)
	slices.Sort(r.lat)
	r.requests = len(r.lat)
	return r
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// rate returns requests per second.
func (r run) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}
