package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestSessionsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kindlab.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000)
	x := Session{ID: "s1", TokenHash: "h", TermToken: "tt", Lab: "services-dns", Step: 1, State: "provisioning",
		Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, x); err != nil {
		t.Fatal(err)
	}
	x.Cluster, x.State, x.Step = "kindlab-p-abc", "ready", 3
	if err := s.UpdateSession(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := s.StepStarted(ctx, "s1", 3, now); err != nil {
		t.Fatal(err)
	}
	if err := s.StepPassed(ctx, "s1", 3, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A second pass does not move the first pass time.
	if err := s.StepPassed(ctx, "s1", 3, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvent(ctx, Event{At: now, Session: "s1", Kind: "step-pass", Step: 3}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Session(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Cluster != "kindlab-p-abc" || got.State != "ready" || got.Step != 3 || !got.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("Session after reopen = %+v", got)
	}
	prog, err := s.Progress(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if p := prog[3]; !p.Started.Equal(now) || !p.Passed.Equal(now.Add(time.Minute)) {
		t.Errorf("Progress[3] = %+v; want started %v, passed %v", p, now, now.Add(time.Minute))
	}
	evs, _ := s.Events(ctx, "s1")
	if len(evs) != 1 || evs[0].Kind != "step-pass" {
		t.Errorf("Events = %+v", evs)
	}
	ready, _ := s.Sessions(ctx, "ready")
	if len(ready) != 1 {
		t.Errorf("Sessions(ready) = %d; want 1", len(ready))
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Session(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session(nope) error = %v; want ErrNotFound", err)
	}
	if err := s.UpdateSession(ctx, Session{ID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateSession(nope) error = %v; want ErrNotFound", err)
	}
}
