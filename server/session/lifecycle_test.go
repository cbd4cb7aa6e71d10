package session

import (
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/kindlab/kindlab/server/store"
)

var happenings = []happening{claimed, requeue, ready, fail, pause, paused, wake, woken, lose, reset, replaceLost, end}

// TestLifecycle holds the table of moves to what a learner may rely on.
func TestLifecycle(t *testing.T) {
	next := map[Phase][]Phase{}
	for _, h := range happenings {
		for p := Queued; p <= Ended; p++ {
			l := &Learner{phase: p, log: slog.New(slog.DiscardHandler)}
			l.settled = sync.NewCond(&l.mu)
			moved := l.move(h)
			switch {
			case moved != slices.Contains(h.from, p):
				t.Errorf("%s from %s: moved = %v", h.name, p, moved)
			case moved && (l.phase != h.to || l.sess.State != h.to.stored()):
				t.Errorf("%s from %s: now %s, stored %q; want %s", h.name, p, l.phase, l.sess.State, h.to)
			case !moved && l.phase != p:
				t.Errorf("%s from %s: refused, yet now %s", h.name, p, l.phase)
			case moved:
				next[p] = append(next[p], h.to)
			}
		}
	}
	if len(next[Ended]) > 0 {
		t.Errorf("an ended session moves on, to %v", next[Ended])
	}
	reach := func(from Phase) map[Phase]bool {
		seen := map[Phase]bool{from: true}
		for todo := []Phase{from}; len(todo) > 0; todo = todo[1:] {
			for _, p := range next[todo[0]] {
				if !seen[p] {
					seen[p] = true
					todo = append(todo, p)
				}
			}
		}
		return seen
	}
	for p := Queued; p <= Ended; p++ {
		if !reach(Queued)[p] {
			t.Errorf("%s cannot be reached from a new session", p)
		}
		if !reach(p)[Ended] {
			t.Errorf("a session in %s cannot end", p)
		}
		if p != Ended && !reach(p)[Ready] {
			t.Errorf("a learner in %s can never be ready again", p)
		}
	}
	// A reset is the learner's way out of a failure and of a cluster they
	// broke; while kindlab itself gets them a cluster it is refused.
	for _, p := range []Phase{Ready, Asleep, Failed} {
		if !slices.Contains(reset.from, p) {
			t.Errorf("no reset from %s", p)
		}
	}
	for _, p := range []Phase{Queued, Provisioning, Lost, Replacing, Ended} {
		if slices.Contains(reset.from, p) {
			t.Errorf("a reset from %s would race kindlab's own provision or wait", p)
		}
	}
	// A sleeping learner's page shows their lab, not a progress view.
	for _, p := range []Phase{Pausing, Asleep, Waking} {
		if p.stored() != store.StateReady {
			t.Errorf("%s is stored as %q", p, p.stored())
		}
	}
}
