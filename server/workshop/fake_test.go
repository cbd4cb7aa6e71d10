package workshop

import (
	"time"

	"github.com/kindlab/kindlab/internal/clock"
)

func newFakeClock() *clock.Fake { return clock.NewFake(time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)) }

// zeroReader returns zero bytes forever: every ID and code is the same.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
