package clock

import (
	"context"
	"testing"
	"time"
)

// TestEvery: f runs once per period of the clock's time, and not after ctx ends.
func TestEvery(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		Every(ctx, c, time.Second, func() { calls <- struct{}{} })
		close(done)
	}()
	c.WaitTimers(t, 1)
	c.Advance(500 * time.Millisecond)
	select {
	case <-calls:
		t.Fatal("f ran before a period had passed")
	case <-time.After(50 * time.Millisecond):
	}
	for i := range 3 {
		c.Advance(time.Second)
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("f did not run after period %d", i+1)
		}
	}
	cancel()
	<-done
	c.Advance(time.Second)
	if len(calls) != 0 {
		t.Errorf("f ran %d times after ctx ended", len(calls))
	}
}
