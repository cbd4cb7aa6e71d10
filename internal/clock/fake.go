package clock

import (
	"sync"
	"time"
)

// Fake is a Clock for tests that moves only when told to (Advance, Set).
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

var _ Clock = (*Fake)(nil)

type fakeTimer struct {
	c      *Fake
	at     time.Time
	period time.Duration // tickers only
	f      func()        // timers only
	ch     chan time.Time
}

// NewFake returns a Fake showing now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, timers: make(map[*fakeTimer]struct{})}
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Fake) add(t *fakeTimer) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers[t] = struct{}{}
	return t
}

// NewTicker returns a ticker that ticks when Advance passes its period.
func (c *Fake) NewTicker(d time.Duration) Ticker {
	return fakeTicker{c.add(&fakeTimer{c: c, at: c.Now().Add(d), period: d, ch: make(chan time.Time, 1)})}
}

type fakeTicker struct{ t *fakeTimer }

func (t fakeTicker) C() <-chan time.Time { return t.t.ch }
func (t fakeTicker) Stop()               { t.t.Stop() }

// AfterFunc calls f when Advance passes d.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	return c.add(&fakeTimer{c: c, at: c.Now().Add(d), f: f})
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	return ok
}

// Advance moves the clock, runs due AfterFunc calls and ticks due tickers.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for t := range c.timers {
		if t.at.After(c.now) {
			continue
		}
		if t.f != nil {
			delete(c.timers, t)
			due = append(due, t.f)
			continue
		}
		for !t.at.After(c.now) {
			t.at = t.at.Add(t.period)
		}
		select {
		case t.ch <- c.now:
		default:
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// WaitTimers waits until n timers or tickers are pending, so that Advance does
// not run before the code under test has set them.
func (c *Fake) WaitTimers(tb TB, n int) {
	tb.Helper()
	for range 10000 {
		c.mu.Lock()
		got := len(c.timers)
		c.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("fake clock: %d timers never pending", n)
}

// TB is what WaitTimers needs of a *testing.T or *testing.B.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}
