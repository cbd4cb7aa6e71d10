package terminal

import "time"

// Clock is the time source for timers (hello timeout, pings) and timestamps,
// so tests can use a fake one. Socket deadlines are wall-clock by nature (the
// network stack compares them with real time) and use time.Now.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
	AfterFunc(d time.Duration, f func()) Timer
}

// Ticker delivers ticks on C until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call; it reports false if the call already ran or
	// was stopped.
	Stop() bool
}

// SystemClock is the Clock of the time package.
type SystemClock struct{}

var _ Clock = SystemClock{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (SystemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }
