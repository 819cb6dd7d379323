// Package storetest checks that an oidcsession.Store (or Coordinator) keeps
// the contract the Middleware relies on: atomic compare-and-set writes,
// indexes, expiry on time, exclusive claims and published values that wake
// their watchers. Run it from a store's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) oidcsession.Store { return newStore(t) })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oidcsession/oidcsession"
)

// Run runs every check of a Store, each with a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) oidcsession.Store) {
	RunCoordinator(t, func(t *testing.T) oidcsession.Coordinator { return newStore(t) })
	for name, check := range map[string]func(*testing.T, oidcsession.Store){
		"PutIsCompareAndSet":    putIsCompareAndSet,
		"ConcurrentPutsOneWins": concurrentPutsOneWins,
		"DeleteAndIndexes":      deleteAndIndexes,
		"RecordsExpire":         recordsExpire,
		"SettleWritesRecord":    settleWritesRecord,
	} {
		t.Run(name, func(t *testing.T) { check(t, newStore(t)) })
	}
}

// RunCoordinator runs every check of a Coordinator.
func RunCoordinator(t *testing.T, newCoordinator func(t *testing.T) oidcsession.Coordinator) {
	for name, check := range map[string]func(*testing.T, oidcsession.Coordinator){
		"ClaimIsExclusive":       claimIsExclusive,
		"SettleReleasesOwnClaim": settleReleasesOwnClaim,
		"ReleaseOnlyOwnClaim":    releaseOnlyOwnClaim,
		"ClaimSeesPublished":     claimSeesPublished,
		"PublishWakesWatch":      publishWakesWatch,
		"ValuesExpire":           valuesExpire,
	} {
		t.Run(name, func(t *testing.T) { check(t, newCoordinator(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func record(id string, gen uint64, index ...string) *oidcsession.Record {
	return &oidcsession.Record{ID: id, Generation: gen, Written: time.Now(), Expires: time.Now().Add(time.Hour), Index: index, Sealed: []byte(fmt.Sprintf("sealed-%s-%d", id, gen))}
}

func putIsCompareAndSet(t *testing.T, st oidcsession.Store) {
	c := ctx(t)
	if _, err := st.Get(c, "s1"); !errors.Is(err, oidcsession.ErrNotFound) {
		t.Fatalf("Get of nothing: %v", err)
	}
	if err := st.Put(c, record("s1", 1, "sub:u"), 0); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := st.Put(c, record("s1", 1, "sub:u"), 0); !errors.Is(err, oidcsession.ErrConflict) {
		t.Fatalf("create over an existing record: %v", err)
	}
	if err := st.Put(c, record("s1", 2, "sub:u"), 1); err != nil {
		t.Fatalf("update from 1: %v", err)
	}
	if err := st.Put(c, record("s1", 2, "sub:u"), 1); !errors.Is(err, oidcsession.ErrConflict) {
		t.Fatalf("a second update from 1: %v", err)
	}
	got, err := st.Get(c, "s1")
	if err != nil || got.Generation != 2 || !bytes.Equal(got.Sealed, []byte("sealed-s1-2")) || got.ID != "s1" {
		t.Fatalf("Get: %+v %v", got, err)
	}
}

func concurrentPutsOneWins(t *testing.T, st oidcsession.Store) {
	c := ctx(t)
	if err := st.Put(c, record("s1", 1), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := record("s1", 2)
			r.Sealed = []byte(fmt.Sprint("writer-", i))
			if err := st.Put(c, r, 1); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, oidcsession.ErrConflict) {
				t.Errorf("Put: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d concurrent writers of generation 2 won, want 1", won)
	}
}

func deleteAndIndexes(t *testing.T, st oidcsession.Store) {
	c := ctx(t)
	for _, r := range []*oidcsession.Record{record("a", 1, "sub:u", "sid:x"), record("b", 1, "sub:u"), record("c", 1, "sub:v")} {
		if err := st.Put(c, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(index string) map[string]bool {
		recs, err := st.List(c, index)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, r := range recs {
			out[r.ID] = true
		}
		return out
	}
	if got := ids("sub:u"); len(got) != 2 || !got["a"] || !got["b"] {
		t.Fatalf("sub:u lists %v", got)
	}
	if got := ids("sid:x"); len(got) != 1 || !got["a"] {
		t.Fatalf("sid:x lists %v", got)
	}
	// A later write with other index keys moves the record.
	if err := st.Put(c, record("b", 2, "sub:w"), 1); err != nil {
		t.Fatal(err)
	}
	if got := ids("sub:u"); len(got) != 1 || !got["a"] {
		t.Fatalf("after moving b, sub:u lists %v", got)
	}
	if err := st.Delete(c, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(c, "a"); !errors.Is(err, oidcsession.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if got := ids("sub:u"); len(got) != 0 {
		t.Fatalf("after Delete, sub:u lists %v", got)
	}
	if err := st.Delete(c, "never-was"); err != nil {
		t.Fatalf("Delete of nothing: %v", err)
	}
}

func recordsExpire(t *testing.T, st oidcsession.Store) {
	c := ctx(t)
	r := record("short", 1, "sub:e")
	r.Expires = time.Now().Add(300 * time.Millisecond)
	if err := st.Put(c, r, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		_, err := st.Get(c, "short")
		return errors.Is(err, oidcsession.ErrNotFound)
	}, "the record outlived its Expires")
	if recs, err := st.List(c, "sub:e"); err != nil || len(recs) != 0 {
		t.Fatalf("an expired record is still listed: %v %v", recs, err)
	}
	// Creating it again works: an expired record is no record.
	if err := st.Put(c, record("short", 1), 0); err != nil {
		t.Fatalf("re-create after expiry: %v", err)
	}
}

func claimIsExclusive(t *testing.T, co oidcsession.Coordinator) {
	c := ctx(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := co.Claim(c, "k", []byte(fmt.Sprint("holder-", i)), time.Minute)
			if err != nil || len(cl.Held) == 0 || cl.Published != nil {
				t.Errorf("Claim: %+v %v", cl, err)
			}
			if cl.Taken {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if taken != 1 {
		t.Fatalf("%d of 20 concurrent claims were taken, want 1", taken)
	}
	if cl, err := co.Claim(c, "short", []byte("a"), 200*time.Millisecond); !cl.Taken || err != nil {
		t.Fatalf("a fresh claim: %+v %v", cl, err)
	}
	waitFor(t, 5*time.Second, func() bool {
		cl, _ := co.Claim(c, "short", []byte("b"), time.Minute)
		return cl.Taken
	}, "a claim outlived its ttl")
}

func settleReleasesOwnClaim(t *testing.T, co oidcsession.Coordinator) {
	c := ctx(t)
	if cl, err := co.Claim(c, "k", []byte("mine"), time.Minute); !cl.Taken || err != nil {
		t.Fatal(cl, err)
	}
	if err := co.Settle(c, "k", []byte("theirs"), []byte("o1"), time.Minute, nil, 0); err != nil {
		t.Fatal(err)
	}
	if cl, _ := co.Claim(c, "k", []byte("other"), time.Minute); cl.Taken || string(cl.Held) != "mine" || string(cl.Published) != "o1" {
		t.Fatalf("a settle by another holder freed the claim: %+v", cl)
	}
	if err := co.Settle(c, "k", []byte("mine"), []byte("o2"), time.Minute, nil, 0); err != nil {
		t.Fatal(err)
	}
	if cl, _ := co.Claim(c, "k", []byte("other"), time.Minute); !cl.Taken || string(cl.Published) != "o2" {
		t.Fatalf("the holder's settle did not free the claim, or publish: %+v", cl)
	}
}

func releaseOnlyOwnClaim(t *testing.T, co oidcsession.Coordinator) {
	c := ctx(t)
	if cl, err := co.Claim(c, "k", []byte("mine"), time.Minute); !cl.Taken || err != nil {
		t.Fatal(cl, err)
	}
	if err := co.Release(c, "k", []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	if cl, _ := co.Claim(c, "k", []byte("other"), time.Minute); cl.Taken || string(cl.Held) != "mine" {
		t.Fatalf("a release by another holder freed the claim: %+v", cl)
	}
	if err := co.Release(c, "k", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	if cl, _ := co.Claim(c, "k", []byte("other"), time.Minute); !cl.Taken {
		t.Fatal("the holder's release did not free the claim")
	}
}

func claimSeesPublished(t *testing.T, co oidcsession.Coordinator) {
	c := ctx(t)
	if err := co.Publish(c, "k", []byte("outcome"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if cl, err := co.Claim(c, "k", []byte("mine"), time.Minute); err != nil || string(cl.Published) != "outcome" {
		t.Fatalf("Claim did not return the published outcome: %+v %v", cl, err)
	}
}

func publishWakesWatch(t *testing.T, co oidcsession.Coordinator) {
	c := ctx(t)
	if _, err := co.Lookup(c, "v"); !errors.Is(err, oidcsession.ErrNotFound) {
		t.Fatalf("Lookup of nothing: %v", err)
	}
	wctx, cancel := context.WithCancel(c)
	defer cancel()
	for i, step := range []func() error{
		func() error { return co.Publish(c, "v", []byte("published"), time.Minute) },
		func() error { return co.Settle(c, "v", []byte("nobody"), []byte("settled"), time.Minute, nil, 0) },
	} {
		wake, err := co.Watch(wctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		if err := step(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatalf("step %d did not wake the watcher", i)
		}
	}
	if got, err := co.Lookup(c, "v"); err != nil || string(got) != "settled" {
		t.Fatalf("Lookup: %q %v", got, err)
	}
}

func settleWritesRecord(t *testing.T, st oidcsession.Store) {
	c := ctx(t)
	if err := st.Put(c, record("s1", 1, "sub:u"), 0); err != nil {
		t.Fatal(err)
	}
	if cl, err := st.Claim(c, "g", []byte("me"), time.Minute); !cl.Taken || err != nil {
		t.Fatal(cl, err)
	}
	// A stale generation: nothing at all happens.
	if err := st.Settle(c, "g", []byte("me"), []byte("out"), time.Minute, record("s1", 3), 2); !errors.Is(err, oidcsession.ErrConflict) {
		t.Fatalf("Settle on a stale generation: %v", err)
	}
	if _, err := st.Lookup(c, "g"); !errors.Is(err, oidcsession.ErrNotFound) {
		t.Fatal("a conflicting Settle published its outcome")
	}
	if cl, _ := st.Claim(c, "g", []byte("other"), time.Minute); cl.Taken {
		t.Fatal("a conflicting Settle released the claim")
	}
	if err := st.Settle(c, "g", []byte("me"), []byte("out"), time.Minute, record("s1", 2, "sub:u"), 1); err != nil {
		t.Fatal(err)
	}
	if r, err := st.Get(c, "s1"); err != nil || r.Generation != 2 {
		t.Fatalf("Settle did not write the record: %+v %v", r, err)
	}
	if v, err := st.Lookup(c, "g"); err != nil || string(v) != "out" {
		t.Fatalf("Settle did not publish: %q %v", v, err)
	}
}

func valuesExpire(t *testing.T, co oidcsession.Coordinator) {
	c := ctx(t)
	if err := co.Publish(c, "v", []byte("x"), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		_, err := co.Lookup(c, "v")
		return errors.Is(err, oidcsession.ErrNotFound)
	}, "a published value outlived its ttl")
}

func waitFor(t *testing.T, limit time.Duration, done func() bool, failure string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal(failure)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
