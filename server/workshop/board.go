package workshop

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/store"
)

// Board is the instructor's side of every workshop at once: the Registry, a
// progress Grid per lab of each workshop (built from the stored events the
// first time it is asked for, after a restart too, then fed each event as it
// is recorded) and the Hub that streams the events to the live dashboards.
// Replicas sharing a PostgreSQL store follow each other's events (Follow).
type Board struct {
	Registry *Registry
	Hub      *Hub
	store    *store.Store
	catalog  *labs.Catalog
	clock    clock.Clock
	log      *slog.Logger

	mu    sync.Mutex
	grids map[gridKey]*Grid
	built map[gridKey]int64 // the newest stored event each grid was built from
}

// gridKey names one lab's progress grid of one workshop.
type gridKey struct{ workshop, lab string }

// NewBoard returns the board of the workshops in st, whose labs are in cat.
// Of the options, WithClock and WithLogger apply.
func NewBoard(st *store.Store, cat *labs.Catalog, opts ...Option) (*Board, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	reg, err := NewRegistry(st.Workshops(), opts...)
	if err != nil {
		return nil, err
	}
	hub, err := NewHub(opts...)
	if err != nil {
		return nil, err
	}
	return &Board{Registry: reg, Hub: hub, store: st, catalog: cat, clock: cfg.clock, log: cfg.log,
		grids: map[gridKey]*Grid{}, built: map[gridKey]int64{}}, nil
}

// Grid returns the progress grid of one lab of workshop w.
func (b *Board) Grid(ctx context.Context, w store.Workshop, labID string) (*Grid, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := gridKey{w.ID, labID}
	if g, ok := b.grids[key]; ok {
		return g, nil
	}
	lab, ok := b.catalog.Lab(labID)
	if !ok {
		return nil, fmt.Errorf("workshop %s: no lab %s", w.ID, labID)
	}
	var steps []Step
	for _, st := range lab.Steps {
		steps = append(steps, Step{Title: st.Title, Estimate: st.Estimate.Std()})
	}
	g, err := NewGrid(steps, WithClock(b.clock))
	if err != nil {
		return nil, err
	}
	events, err := b.store.WorkshopEvents(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if e.Lab == labID || e.Lab == "" {
			g.Apply(e)
		}
		b.built[key] = max(b.built[key], e.ID)
	}
	b.grids[key] = g
	return g, nil
}

// Record feeds a recorded event of a workshop to its lab's grid (a message
// goes to every grid of the workshop) and to the live dashboards; events of
// no workshop are left out.
func (b *Board) Record(ctx context.Context, e activity.Event) {
	if e.Workshop == "" {
		return
	}
	w, err := b.store.Workshops().Workshop(ctx, e.Workshop)
	if err != nil {
		b.log.Error("workshop of an event", "workshop", e.Workshop, "error", err)
		return
	}
	for _, lab := range w.Labs {
		if e.Lab != "" && e.Lab != lab {
			continue
		}
		g, err := b.Grid(ctx, w, lab)
		if err != nil {
			continue
		}
		b.mu.Lock()
		stale := e.ID != 0 && e.ID <= b.built[gridKey{w.ID, lab}] // another replica's, already in the grid
		b.mu.Unlock()
		if !stale {
			g.Apply(e)
		}
	}
	b.Hub.Publish(e)
}

// Replicas sharing a PostgreSQL store serve one workshop together: each
// one's dashboards see every learner's events, whichever replica runs the
// learner, and an instructor's message reaches every learner.
const (
	followEvery  = 500 * time.Millisecond // how often the other replicas' events are read
	followBatch  = 500                    // events read at a time
	followBehind = 200                    // event numbers read again, for writes that commit late
)

// Follow records on this board the workshop events the replicas other than
// replica record, every followEvery until ctx ends; each message an
// instructor sent through another replica also goes to told (this replica's
// learners of that workshop are to see it).
func (b *Board) Follow(ctx context.Context, replica string, told func(activity.Event)) {
	last, err := b.store.LastEventID(ctx)
	if err != nil {
		b.log.Error("the other replicas' events cannot be followed", "error", err)
	}
	seen := map[int64]bool{}
	clock.Every(ctx, b.clock, followEvery, func() {
		events, err := b.store.WorkshopEventsAfter(ctx, max(0, last-followBehind), replica, followBatch)
		if err != nil {
			b.log.Warn("read the other replicas' events; trying again", "error", err)
			return
		}
		for _, e := range events {
			last = max(last, e.ID)
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			b.Record(ctx, e)
			if e.Kind == activity.KindMessage {
				told(e)
			}
		}
		for id := range seen {
			if id <= last-followBehind {
				delete(seen, id)
			}
		}
	})
}
