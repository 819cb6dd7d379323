package redisstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The invalidation channel's timing. A pong proves that every message
// published before its ping was sent has arrived, so the cache serves hits
// for trustFor after the ping of the latest pong: a change is seen on every
// replica within trustFor (plus the clock's reading), inside the Store
// contract's second, even when the connection stalls without an error.
const (
	pingEvery  = 100 * time.Millisecond
	trustFor   = 750 * time.Millisecond
	stallAfter = time.Second             // nothing heard for this long: resubscribe
	retryFirst = 50 * time.Millisecond   // the first pause after a lost subscription
	retryMax   = 1000 * time.Millisecond // the longest
)

// events is the Store's one subscription, to the channel on which every
// write publishes: "r<gen>:<id>" (record id is now at generation gen, 0:
// deleted) for the caches, and "w<key>" (a Publish or Settle of a
// coordinator key) for Watch. One channel for everything keeps a replica
// at one subscription however many grants it waits on; grants are rare
// (one per access-token lifetime per session), so every replica hearing
// every wake-up costs little.
type events struct {
	rdb     redis.UniversalClient
	channel string
	cache   *cache
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	up       bool          // subscribed on a live connection
	upCh     chan struct{} // closed while up
	watchers map[string]map[chan struct{}]struct{}
}

func startEvents(rdb redis.UniversalClient, channel string, c *cache) *events {
	ctx, cancel := context.WithCancel(context.Background())
	ev := &events{rdb: rdb, channel: channel, cache: c, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		upCh: make(chan struct{}), watchers: map[string]map[chan struct{}]struct{}{}}
	go ev.run()
	return ev
}

func (ev *events) stop() {
	ev.cancel()
	<-ev.done
}

// run keeps the subscription, pausing longer after each failed attempt.
func (ev *events) run() {
	defer close(ev.done)
	pause := retryFirst
	for ev.ctx.Err() == nil {
		if ev.subscription() {
			pause = retryFirst
		} else {
			pause = min(2*pause, retryMax)
		}
		ev.lost()
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ev.ctx.Done():
			t.Stop()
		}
	}
}

// subscription subscribes and handles what arrives, pinging every
// pingEvery, until the connection fails or stalls; it reports whether it
// got subscribed.
func (ev *events) subscription() (subscribed bool) {
	ps := ev.rdb.Subscribe(ev.ctx, ev.channel)
	defer ps.Close()
	heard, nextPing := time.Now(), time.Now()
	for {
		now := time.Now()
		if now.Sub(heard) > stallAfter {
			return subscribed
		}
		if !now.Before(nextPing) {
			if ps.Ping(ev.ctx, strconv.FormatInt(int64(now.Sub(ev.cache.start)), 10)) != nil {
				return subscribed
			}
			nextPing = now.Add(pingEvery)
		}
		msg, err := ps.ReceiveTimeout(ev.ctx, max(time.Until(nextPing), time.Millisecond))
		var ne net.Error
		switch {
		case err != nil && errors.As(err, &ne) && ne.Timeout() && ev.ctx.Err() == nil:
			continue
		case err != nil:
			return subscribed
		}
		heard = time.Now()
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !subscribed {
				subscribed = true
				ev.subscribed()
			}
		case *redis.Pong:
			if d, err := strconv.ParseInt(m.Payload, 10, 64); err == nil && subscribed {
				ev.cache.trustUntil(ev.cache.start.Add(time.Duration(d) + trustFor))
			}
		case *redis.Message:
			ev.handle(m.Payload)
		}
	}
}

// subscribed starts a fresh cache (what it held may have missed messages)
// and wakes every watcher, whose key may have been settled meanwhile.
func (ev *events) subscribed() {
	ev.cache.reset(true)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if !ev.up {
		ev.up = true
		close(ev.upCh)
	}
	ev.wakeAll()
}

// lost stops the cache and wakes every watcher: messages may be lost
// until the subscription is back, so they look for themselves.
func (ev *events) lost() {
	ev.cache.reset(false)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.up {
		ev.up = false
		ev.upCh = make(chan struct{})
	}
	ev.wakeAll()
}

// handle applies one message.
func (ev *events) handle(payload string) {
	switch {
	case strings.HasPrefix(payload, "r"):
		genText, id, ok := strings.Cut(payload[1:], ":")
		if gen, err := strconv.ParseUint(genText, 10, 64); ok && err == nil {
			ev.cache.invalidate(id, gen)
		}
	case strings.HasPrefix(payload, "w"):
		ev.mu.Lock()
		for ch := range ev.watchers[payload[1:]] {
			wake(ch)
		}
		ev.mu.Unlock()
	}
}

// wakeAll wakes every watcher. ev.mu must be held.
func (ev *events) wakeAll() {
	for _, chans := range ev.watchers {
		for ch := range chans {
			wake(ch)
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// errClosed is the failure of a Store after Close.
var errClosed = errors.New("redisstore: the store is closed")

// watch registers a watcher of key until ctx is done, once the
// subscription is up (waiting for it until giveUp), so every message
// published after it returns reaches the channel, or, if the subscription
// is lost, a wake-up does.
func (ev *events) watch(ctx context.Context, key string, giveUp <-chan struct{}) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	for {
		ev.mu.Lock()
		if ev.up {
			if ev.watchers[key] == nil {
				ev.watchers[key] = map[chan struct{}]struct{}{}
			}
			ev.watchers[key][ch] = struct{}{}
			ev.mu.Unlock()
			break
		}
		upCh := ev.upCh
		ev.mu.Unlock()
		select {
		case <-upCh:
		case <-giveUp:
			return nil, errors.New("not subscribed to the invalidation channel")
		case <-ev.ctx.Done():
			return nil, errClosed
		}
	}
	context.AfterFunc(ctx, func() {
		ev.mu.Lock()
		delete(ev.watchers[key], ch)
		if len(ev.watchers[key]) == 0 {
			delete(ev.watchers, key)
		}
		ev.mu.Unlock()
	})
	return ch, nil
}
