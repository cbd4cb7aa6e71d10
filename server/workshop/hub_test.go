package workshop

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
)

func newTestHub(t testing.TB, opts ...Option) *Hub {
	t.Helper()
	h, err := NewHub(opts...)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	return h
}

// drain returns what is queued on s without waiting.
func drain(s *Subscription) []activity.Event {
	var out []activity.Event
	for {
		select {
		case e, ok := <-s.Events():
			if !ok {
				return out
			}
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestHubRouting(t *testing.T) {
	events := []activity.Event{
		{Workshop: "A", Session: "s1", Kind: activity.KindCheck, Step: 1, Message: "a1"},
		{Workshop: "B", Session: "s9", Kind: activity.KindCheck, Step: 1, Message: "b1"},
		{Workshop: "A", Kind: activity.KindMessage, Message: "a-broadcast"},
		{Workshop: "A", Session: "s2", Kind: activity.KindMessage, Message: "a-to-s2"},
		{Workshop: "B", Kind: activity.KindMessage, Message: "b-broadcast"},
		{Workshop: "", Kind: activity.KindMessage, Message: "nowhere"},
	}
	tests := []struct {
		name    string
		sub     func(h *Hub) (*Subscription, func())
		wantMsg []string
	}{
		{name: "dashboard A", sub: func(h *Hub) (*Subscription, func()) { return h.Subscribe("A") },
			wantMsg: []string{"a1", "a-broadcast", "a-to-s2"}},
		{name: "dashboard B", sub: func(h *Hub) (*Subscription, func()) { return h.Subscribe("B") },
			wantMsg: []string{"b1", "b-broadcast"}},
		{name: "dashboard of an unknown workshop", sub: func(h *Hub) (*Subscription, func()) { return h.Subscribe("C") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHub(t)
			s, cancel := tt.sub(h)
			defer cancel()
			other, cancelOther := h.Subscribe("A") // another subscriber changes nothing
			defer cancelOther()
			for _, e := range events {
				h.Publish(e)
			}
			var got []string
			for _, e := range drain(s) {
				got = append(got, e.Message)
			}
			if !slices.Equal(got, tt.wantMsg) {
				t.Errorf("received %q; want %q", got, tt.wantMsg)
			}
			if s.Err() != nil || other.Err() != nil {
				t.Errorf("Err() = %v, %v; want nil, nil", s.Err(), other.Err())
			}
		})
	}
}

func TestHubSlowSubscriberDropped(t *testing.T) {
	const queue, events = 8, 200
	h := newTestHub(t, WithQueueLen(queue))
	slow, cancelSlow := h.Subscribe("A") // never reads
	defer cancelSlow()
	fast, cancelFast := h.Subscribe("A")
	defer cancelFast()
	otherWorkshop, cancelOther := h.Subscribe("B")
	defer cancelOther()

	done := make(chan struct{})
	var fastGot []int
	go func() {
		defer close(done)
		// Lockstep with the fast subscriber: each Publish must return while
		// the slow one is full, or this never finishes.
		for i := range events {
			h.Publish(activity.Event{Workshop: "A", Session: "s1", Kind: activity.KindCheck, Step: i + 1})
			e := <-fast.Events()
			fastGot = append(fastGot, e.Step)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publisher blocked by a slow subscriber")
	}

	if len(fastGot) != events || fast.Err() != nil {
		t.Errorf("fast subscriber: %d events, Err %v; want %d, nil", len(fastGot), fast.Err(), events)
	}
	got := drain(slow)
	if len(got) != queue {
		t.Errorf("slow subscriber got %d events before the drop; want %d", len(got), queue)
	}
	for i, e := range got {
		if e.Step != i+1 {
			t.Errorf("slow subscriber event %d: step %d; want %d (in order, no gap)", i, e.Step, i+1)
		}
	}
	if _, open := <-slow.Events(); open {
		t.Errorf("slow subscriber channel still open; want closed")
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Errorf("slow Err() = %v; want %v", slow.Err(), ErrSlowSubscriber)
	}
	if n := h.subscribers("A"); n != 1 {
		t.Errorf("subscribers(A) = %d; want 1", n)
	}
	if otherWorkshop.Err() != nil || len(drain(otherWorkshop)) != 0 {
		t.Errorf("workshop B subscriber touched by workshop A's traffic")
	}
	cancelSlow() // canceling a dropped subscription is harmless
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Errorf("after cancel, slow Err() = %v; want %v still", slow.Err(), ErrSlowSubscriber)
	}
}

func TestHubCancel(t *testing.T) {
	h := newTestHub(t)
	s, cancel := h.Subscribe("A")
	h.Publish(activity.Event{Workshop: "A", Kind: activity.KindJoin, Session: "s1"})
	cancel()
	cancel()
	h.Publish(activity.Event{Workshop: "A", Kind: activity.KindLeave, Session: "s1"}) // no panic on a closed channel
	if got := drain(s); len(got) != 1 || got[0].Kind != activity.KindJoin {
		t.Errorf("after cancel, queued events = %+v; want the join only", got)
	}
	if !errors.Is(s.Err(), ErrUnsubscribed) {
		t.Errorf("Err() = %v; want %v", s.Err(), ErrUnsubscribed)
	}
	if n := h.subscribers("A"); n != 0 {
		t.Errorf("subscribers(A) = %d; want 0", n)
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    string
		wantErr error
	}{
		{name: "ok", text: " Break: back at 11:00 ", want: "Break: back at 11:00"},
		{name: "longest", text: strings.Repeat("é", MaxBroadcastLen), want: strings.Repeat("é", MaxBroadcastLen)},
		{name: "empty", text: "  ", wantErr: ErrInvalid},
		{name: "too long", text: strings.Repeat("x", MaxBroadcastLen+1), wantErr: ErrInvalid},
		{name: "invalid utf-8", text: "a\xffb", wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Message(tt.text)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Message(%.20q) = %.20q, %v; want %.20q, %v", tt.text, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestHubLoad200: 200 learners publishing 50 events each, concurrently, to 3
// dashboards. Every dashboard that was not dropped must see every event, in
// order per learner.
func TestHubLoad200(t *testing.T) {
	if raceDetector {
		t.Skip("a load test: make unit runs it without the race detector")
	}
	const learners, perLearner, dashboards = 200, 50, 3
	// A queue that holds the whole burst (10,000 events in about 50 ms): on two
	// cores the scheduler can starve all three consumers at once for that long
	// (seen: every dashboard dropped after 1,058 events, about one run in eight),
	// and this test is about order, completeness and latency under load. The
	// drop policy has its own test (TestHubSlowSubscriberDropped).
	h := newTestHub(t, WithQueueLen(learners*perLearner))

	type result struct {
		got       map[string]int // session → last step seen
		latencies []time.Duration
		errs      []string
		err       error
	}
	results := make([]*result, dashboards)
	var consumers sync.WaitGroup
	cancels := make([]func(), dashboards)
	for d := range dashboards {
		s, cancel := h.Subscribe("load")
		cancels[d] = cancel
		r := &result{got: make(map[string]int, learners), latencies: make([]time.Duration, 0, learners*perLearner)}
		results[d] = r
		consumers.Go(func() {
			for e := range s.Events() {
				r.latencies = append(r.latencies, time.Since(e.At))
				if last := r.got[e.Session]; e.Step != last+1 && len(r.errs) < 5 {
					r.errs = append(r.errs, fmt.Sprintf("%s: step %d after %d", e.Session, e.Step, last))
				}
				r.got[e.Session] = e.Step
			}
			r.err = s.Err()
		})
	}

	start := time.Now()
	var publishers sync.WaitGroup
	for l := range learners {
		publishers.Go(func() {
			session := fmt.Sprintf("learner-%03d", l)
			for i := range perLearner {
				h.Publish(activity.Event{At: time.Now(), Workshop: "load", Session: session, Kind: activity.KindCheck, Step: i + 1,
					CheckID: "c", Status: check.Fail, Message: "not yet"})
				// Learners' checkers do not publish in a tight loop.
				time.Sleep(time.Duration(100+rand.IntN(400)) * time.Microsecond)
			}
		})
	}
	publishers.Wait()
	publishTime := time.Since(start)
	for _, cancel := range cancels {
		cancel() // closes the channels; consumers drain what is queued, then stop
	}
	consumers.Wait()

	var all []time.Duration
	dropped := 0
	for d, r := range results {
		if errors.Is(r.err, ErrSlowSubscriber) {
			dropped++
			t.Logf("dashboard %d dropped after %d events (allowed by the policy)", d, len(r.latencies))
			continue
		}
		for _, msg := range r.errs {
			t.Errorf("dashboard %d: out of order: %s", d, msg)
		}
		if len(r.got) != learners {
			t.Errorf("dashboard %d saw %d learners; want %d", d, len(r.got), learners)
		}
		for session, last := range r.got {
			if last != perLearner {
				t.Errorf("dashboard %d: %s last step %d; want %d", d, session, last, perLearner)
			}
		}
		if len(r.latencies) != learners*perLearner {
			t.Errorf("dashboard %d received %d events; want %d", d, len(r.latencies), learners*perLearner)
		}
		all = append(all, r.latencies...)
	}
	if dropped == dashboards {
		t.Errorf("every dashboard was dropped: nothing left to check")
	}
	slices.Sort(all)
	if len(all) > 0 {
		t.Logf("%d learners × %d events → %d dashboards in %v (%d dropped); fan-out latency p50 %v, p99 %v, max %v",
			learners, perLearner, dashboards, publishTime.Round(time.Millisecond), dropped,
			percentile(all, 0.50), percentile(all, 0.99), all[len(all)-1])
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func TestNewHubErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		{name: "zero queue", opts: []Option{WithQueueLen(0)}},
		{name: "nil clock", opts: []Option{WithClock(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHub(tt.opts...); err == nil {
				t.Errorf("NewHub() = nil error; want error")
			}
		})
	}
}

// subscribers returns how many live subscriptions a workshop has.
func (h *Hub) subscribers(workshopID string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs[workshopID])
}
