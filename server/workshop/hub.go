package workshop

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/kindlab/kindlab/server/activity"
)

// DefaultQueueLen is how many events may wait for one subscriber before it is
// dropped. A dashboard must absorb one burst from every learner at once
// (checkers poll on a shared schedule): with 256, TestHubLoad200's opening
// burst of 200 learners dropped all three dashboards before their goroutines
// were first scheduled; 1024 (about 200 KiB per subscriber) absorbs it.
const DefaultQueueLen = 1024

// MaxBroadcastLen is the longest instructor message, in characters.
const MaxBroadcastLen = 500

// Subscription end reasons, from Subscription.Err.
var (
	// ErrSlowSubscriber: the queue was full and the subscription was dropped.
	// Re-read a full snapshot and subscribe again.
	ErrSlowSubscriber = errors.New("workshop hub: subscriber too slow, dropped")
	// ErrUnsubscribed: the subscription was canceled by its owner.
	ErrUnsubscribed = errors.New("workshop hub: unsubscribed")
)

// Hub fans a workshop's events out to its instructor dashboards. Publish never
// blocks; see the package documentation for the slow-subscriber policy.
type Hub struct {
	log      *slog.Logger
	queueLen int

	// mu is held for reading while sending (non-blocking) and for writing
	// while removing and closing a subscription, so no send ever hits a
	// closed channel.
	mu   sync.RWMutex
	subs map[string]map[*Subscription]struct{} // by workshop ID
}

// NewHub returns a Hub. Options: WithQueueLen, WithLogger.
func NewHub(opts ...Option) (*Hub, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("new hub: %w", err)
	}
	return &Hub{
		log:      cfg.log,
		queueLen: cfg.queueLen,
		subs:     make(map[string]map[*Subscription]struct{}),
	}, nil
}

// Subscription receives one workshop's events on Events until it is
// canceled or dropped; then Events is closed and Err says why.
type Subscription struct {
	workshop string
	ch       chan activity.Event
	dropped  atomic.Bool // set by the first publisher that finds the queue full
	err      error       // guarded by Hub.mu
	hub      *Hub
}

// Events returns the channel of events, closed when the subscription ends.
func (s *Subscription) Events() <-chan activity.Event { return s.ch }

// Err returns nil while the subscription is live, then ErrSlowSubscriber or
// ErrUnsubscribed.
func (s *Subscription) Err() error {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.err
}

// Subscribe returns an instructor dashboard's subscription to every event of
// one workshop, and the function that cancels it (safe to call more than
// once, and after a drop).
func (h *Hub) Subscribe(workshopID string) (*Subscription, func()) {
	return h.subscribe(&Subscription{workshop: workshopID})
}

func (h *Hub) subscribe(s *Subscription) (*Subscription, func()) {
	s.hub = h
	s.ch = make(chan activity.Event, h.queueLen)
	h.mu.Lock()
	set := h.subs[s.workshop]
	if set == nil {
		set = make(map[*Subscription]struct{})
		h.subs[s.workshop] = set
	}
	set[s] = struct{}{}
	h.mu.Unlock()
	return s, func() { h.remove(s, ErrUnsubscribed) }
}

// Publish hands e to every live subscription of e.Workshop, without blocking. A subscription whose queue is full is dropped.
func (h *Hub) Publish(e activity.Event) {
	var full []*Subscription
	h.mu.RLock()
	for s := range h.subs[e.Workshop] {
		if s.dropped.Load() {
			continue
		}
		select {
		case s.ch <- e:
		default:
			if s.dropped.CompareAndSwap(false, true) {
				full = append(full, s)
			}
		}
	}
	h.mu.RUnlock()
	for _, s := range full {
		h.log.Warn("hub: dropping slow subscriber", slog.String("workshop", s.workshop), slog.Int("queue", h.queueLen))
		h.remove(s, ErrSlowSubscriber)
	}
}

// Message checks an instructor's broadcast: the text, trimmed, must be 1 to
// MaxBroadcastLen characters of valid UTF-8.
func Message(text string) (string, error) {
	text = strings.TrimSpace(text)
	if text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxBroadcastLen {
		return "", fmt.Errorf("%w: message must be 1 to %d characters", ErrInvalid, MaxBroadcastLen)
	}
	return text, nil
}

func (h *Hub) remove(s *Subscription, reason error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[s.workshop]
	if _, ok := set[s]; !ok {
		return // already removed
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.workshop)
	}
	s.dropped.Store(true)
	s.err = reason
	close(s.ch)
}
