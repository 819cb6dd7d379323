package redisstore

import (
	"context"
	"time"
)

// await waits until the subscription is up, or down.
func (ev *events) await(ctx context.Context, up bool) error {
	for {
		ev.mu.Lock()
		cur, upCh := ev.up, ev.upCh
		ev.mu.Unlock()
		if cur == up {
			return nil
		}
		wait := (<-chan time.Time)(nil)
		if !up { // no event says it went down: poll
			wait = time.After(5 * time.Millisecond)
		} else {
			wait = nil
		}
		select {
		case <-upCh:
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
