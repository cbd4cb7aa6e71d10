package session

import (
	"context"
	"slices"

	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/store"
)

// EventName is the kind of an event for the learner's page (the Server-Sent
// Events' event field).
type EventName string

// Page events.
const (
	EventProgress EventName = "progress" // Data is a Progress
	EventChecks   EventName = "checks"   // Data is a Checks
	EventMessage  EventName = "message"  // Data is a Message
	EventSaving   EventName = "saving"   // Data is a Saving
	EventLimit    EventName = "limit"    // Data is a Limit
)

// Event is one event for the learner's page.
type Event struct {
	Name EventName
	Data any
}

// Progress is where provisioning is.
type Progress struct {
	Stage Stage  `json:"stage"`
	Label string `json:"label"` // the stage in words (set by setProgress)
	Done  bool   `json:"done"`
	Queue int    `json:"queue"` // place in the queue for a cluster, from 1; 0 when not queued
	Error string `json:"error"`
}

// Checks are the latest results of the current step's checks.
type Checks struct {
	Step      int           `json:"step"`
	Results   []CheckResult `json:"results"`
	AllPassed bool          `json:"allPassed"`
}

// CheckResult is one check's latest result.
type CheckResult struct {
	ID      string       `json:"id"`
	Status  check.Status `json:"status"`
	Message string       `json:"message"`
}

// Message is the instructor's broadcast.
type Message struct {
	Text string `json:"text"`
}

// Subscribe returns a channel of the learner's page events, starting with the
// current progress and check results, and a func that ends the subscription.
func (l *Learner) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 32)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	ch <- Event{EventProgress, l.progress}
	if l.steps.checks.Step > 0 {
		ch <- Event{EventChecks, l.steps.checks}
	}
	l.mu.Unlock()
	if s, _ := l.m.Saving(); s.Delayed {
		ch <- Event{EventSaving, s}
	}
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// publish sends an event to every subscriber; l.mu must be held. A subscriber too
// slow to take it loses the event (progress and checks are states: the next one
// carries everything).
func (l *Learner) publish(e Event) {
	for ch := range l.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

func (l *Learner) setProgress(p Progress) {
	l.mu.Lock()
	l.setProgressLocked(p)
	l.mu.Unlock()
}

// setProgressLocked is setProgress with l.mu held.
func (l *Learner) setProgressLocked(p Progress) {
	p.Label = p.Stage.Label()
	l.progress = p
	l.publish(Event{EventProgress, p})
}

// Progress returns where provisioning is.
func (l *Learner) Progress() Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress
}

// Checks returns the latest results of the current step's checks.
func (l *Learner) Checks() Checks {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.steps.checks
	c.Results = slices.Clone(c.Results)
	return c
}

// record stores an event of the learner's and hands it to the dashboards.
func (l *Learner) record(ctx context.Context, kind activity.Kind, step int, detail string) {
	sess := l.Session()
	l.m.Record(ctx, activity.Event{At: l.m.cfg.Clock.Now(), Workshop: sess.Workshop, Session: l.id, Lab: l.lab.ID,
		Kind: kind, Step: step, Name: sess.Name, Message: detail})
}

// recordCheck records a changed check result; only workshops keep them.
func (l *Learner) recordCheck(ctx context.Context, step int, r CheckResult) {
	ws := l.Session().Workshop
	if ws == "" {
		return
	}
	l.m.Record(ctx, activity.Event{At: l.m.cfg.Clock.Now(), Workshop: ws, Session: l.id, Lab: l.lab.ID,
		Kind: activity.KindCheck, Step: step, CheckID: r.ID, Status: r.Status, Message: r.Message})
}

// Record stores an event and hands it to OnEvent (the dashboards).
func (m *Manager) Record(ctx context.Context, e activity.Event) {
	se := store.Event{At: e.At, Session: e.Session, Kind: e.Kind, Step: e.Step,
		Detail: e.Name, Workshop: e.Workshop, CheckID: e.CheckID, Status: string(e.Status), Message: e.Message, Origin: m.cfg.Replica}
	m.saver.save("event "+string(e.Kind), func(ctx context.Context) error { return m.cfg.Store.AddEvent(ctx, se) })
	m.cfg.OnEvent(e)
}
