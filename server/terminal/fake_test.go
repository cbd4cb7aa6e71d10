package terminal

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// fakeTerm is an in-memory Terminal. Every emit becomes exactly one Read
// (and so one chunk) as long as it is at most readSize bytes, and returns
// once the session's reader has taken it. With echo, input is emitted back.
type fakeTerm struct {
	echo      bool
	out       chan termEvent
	closed    chan struct{}
	closeOnce sync.Once
	pending   []byte // read by the session's single reader only
	inputs    chan []byte
	sizes     chan [2]uint16
}

type termEvent struct {
	data []byte
	err  error
}

func newFakeTerm(echo bool) *fakeTerm {
	return &fakeTerm{
		echo:   echo,
		out:    make(chan termEvent),
		closed: make(chan struct{}),
		inputs: make(chan []byte, 64),
		sizes:  make(chan [2]uint16, 16),
	}
}

func (t *fakeTerm) Read(p []byte) (int, error) {
	if len(t.pending) == 0 {
		select {
		case ev := <-t.out:
			if ev.err != nil {
				return 0, ev.err
			}
			t.pending = ev.data
		case <-t.closed:
			return 0, io.EOF
		}
	}
	n := copy(p, t.pending)
	t.pending = t.pending[n:]
	return n, nil
}

func (t *fakeTerm) Write(p []byte) (int, error) {
	if t.echo {
		if !t.emit(bytes.Clone(p)) {
			return 0, io.ErrClosedPipe
		}
		return len(p), nil
	}
	select {
	case t.inputs <- bytes.Clone(p):
		return len(p), nil
	case <-t.closed:
		return 0, io.ErrClosedPipe
	}
}

func (t *fakeTerm) Resize(cols, rows uint16) error {
	t.sizes <- [2]uint16{cols, rows}
	return nil
}

func (t *fakeTerm) Close() error {
	t.closeOnce.Do(func() { close(t.closed) })
	return nil
}

// emit hands data to the session's reader; it reports false if the
// terminal was closed.
func (t *fakeTerm) emit(data []byte) bool {
	select {
	case t.out <- termEvent{data: data}:
		return true
	case <-t.closed:
		return false
	}
}

// exit ends the terminal, after the output emitted so far, with err.
func (t *fakeTerm) exit(err error) { t.out <- termEvent{err: err} }

// exitErr is an exit status, like client-go's exec.CodeExitError.
type exitErr int

func (e exitErr) Error() string   { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitErr) ExitStatus() int { return int(e) }

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	c      *fakeClock
	at     time.Time
	period time.Duration // tickers only
	f      func()        // timers only
	ch     chan time.Time
}

var _ Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), timers: make(map[*fakeTimer]struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(t *fakeTimer) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers[t] = struct{}{}
	return t
}

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	return fakeTicker{c.add(&fakeTimer{c: c, at: c.Now().Add(d), period: d, ch: make(chan time.Time, 1)})}
}

type fakeTicker struct{ t *fakeTimer }

func (t fakeTicker) C() <-chan time.Time { return t.t.ch }
func (t fakeTicker) Stop()               { t.t.Stop() }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
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
func (c *fakeClock) Advance(d time.Duration) {
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

// waitTimers waits until n timers or tickers are pending, so that Advance
// does not run before the code under test has set them.
func (c *fakeClock) waitTimers(tb testing.TB, n int) {
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
