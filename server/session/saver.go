package session

import (
	"context"
	"sync"
	"time"
)

// saveTimeout bounds one attempt of one write (SQLite itself waits up to its
// busy timeout for a lock).
const saveTimeout = 15 * time.Second

// Retry delays of a write the store refused: the first, doubling up to the last.
const (
	firstRetry = 500 * time.Millisecond
	lastRetry  = 5 * time.Second
)

// Saving is whether kindlab's writes reach its database, for the learner's page.
type Saving struct {
	Delayed bool   `json:"delayed"`
	Text    string `json:"text"`
}

// Texts of the page's saving notice.
const (
	SavingDelayedText = "Your progress is not saved yet: kindlab cannot write to its database right now and keeps trying. Keep working; nothing is lost."
	SavingAgainText   = "Your progress is saved again."
)

// write is one store write, repeatable until it lands.
type write struct {
	what string
	do   func(context.Context) error
}

// saver makes store writes that must not be lost: a write the store refuses
// (the database locked, its disk full or read-only) is queued and retried, in
// order, until it lands; while any waits, later writes queue behind it so the
// store sees them in the order they were made, and every learner's page says
// saving is delayed. Writes still queued when kindlab stops are logged as lost.
type saver struct {
	m *Manager

	mu      sync.Mutex
	pending []write
}

// save runs w now, or queues it behind writes still waiting.
func (s *saver) save(what string, do func(context.Context) error) {
	w := write{what, do}
	s.mu.Lock()
	if len(s.pending) > 0 {
		s.pending = append(s.pending, w)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	err := s.try(w)
	if err == nil {
		return
	}
	s.m.cfg.Logger.Error("store write failed; retrying", "write", what, "error", err)
	s.mu.Lock()
	s.pending = append(s.pending, w)
	first := len(s.pending) == 1
	s.mu.Unlock()
	if first {
		s.m.setSaving(Saving{Delayed: true, Text: SavingDelayedText})
		go s.retry()
	}
}

func (s *saver) try(w write) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.m.ctx), saveTimeout)
	defer cancel()
	return w.do(ctx)
}

// retry works through the queued writes, oldest first, until none is left or
// kindlab stops.
func (s *saver) retry() {
	delay := firstRetry
	for {
		select {
		case <-s.m.ctx.Done():
			s.mu.Lock()
			lost := len(s.pending)
			s.mu.Unlock()
			s.m.cfg.Logger.Error("kindlab stopped with store writes not saved", "writes", lost)
			return
		case <-time.After(delay):
		}
		s.mu.Lock()
		w := s.pending[0]
		s.mu.Unlock()
		if err := s.try(w); err != nil {
			s.m.cfg.Logger.Warn("store write still failing", "write", w.what, "error", err)
			delay = min(2*delay, lastRetry)
			continue
		}
		delay = 0 // the store answers again: the rest at once
		s.mu.Lock()
		s.pending = s.pending[1:]
		left := len(s.pending)
		s.mu.Unlock()
		if left == 0 {
			s.m.cfg.Logger.Info("store writes saved again")
			s.m.setSaving(Saving{Text: SavingAgainText})
			return
		}
	}
}

// Delayed reports how many writes wait for the store.
func (s *saver) delayed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}
