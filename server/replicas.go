package server

import (
	"context"
	"time"

	"github.com/kindlab/kindlab/server/workshop"
)

// Replicas sharing a PostgreSQL database serve one workshop together: each
// one's dashboards see every learner's events, whichever replica runs the
// learner, and an instructor's message reaches every learner.
const (
	followEvery  = 500 * time.Millisecond // how often the other replicas' events are read
	followBatch  = 500                    // events read at a time
	followBehind = 200                    // event numbers read again, for writes that commit late
)

// followReplicas hands this replica's dashboards the workshop events the
// other replicas record, every followEvery until ctx ends, and tells this
// replica's learners the messages an instructor sent through another.
func (s *Server) followReplicas(ctx context.Context) {
	last, err := s.Store.LastEventID(ctx)
	if err != nil {
		s.Logger.Error("the other replicas' events cannot be followed", "error", err)
	}
	seen := map[int64]bool{}
	tick := s.Clock.NewTicker(followEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
		events, err := s.Store.WorkshopEventsAfter(ctx, max(0, last-followBehind), s.Replica, followBatch)
		if err != nil {
			s.Logger.Warn("read the other replicas' events; trying again", "error", err)
			continue
		}
		for _, e := range events {
			last = max(last, e.ID)
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			s.onEvent(e)
			if e.Kind == workshop.KindMessage {
				for _, l := range s.sessions.InWorkshop(e.Workshop) {
					l.Tell(e.Message)
				}
			}
		}
		for id := range seen {
			if id <= last-followBehind {
				delete(seen, id)
			}
		}
	}
}
