package oidcsession

import (
	"context"
	"testing"
	"time"
)

// TestMemoryDropsValuesOnTime (issue 6.11): grace-window outcomes hold live
// refresh tokens; they must leave memory when their time is up, not when
// the next grant happens.
func TestMemoryDropsValuesOnTime(t *testing.T) {
	m := newMemory()
	for i := range 1000 {
		_ = m.Publish(context.Background(), string(rune(i)), []byte("a refresh token"), 100*time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		n := len(m.values)
		m.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 1000 values outlived their ttl", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
