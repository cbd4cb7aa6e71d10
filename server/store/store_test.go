package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/store/storetest"
)

func open(t *testing.T, where string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSessionsSurviveReopen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, where string) {
		ctx := context.Background()
		s := open(t, where)
		now := time.UnixMilli(1_700_000_000_000)
		x := store.Session{ID: "s1", TokenHash: "h", TermToken: "tt", Lab: "services-dns", Step: 1, State: "provisioning",
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
		// A second start does not move the first.
		if err := s.StepStarted(ctx, "s1", 3, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.StepPassed(ctx, "s1", 3, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// A second pass does not move the first pass time.
		if err := s.StepPassed(ctx, "s1", 3, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.AddEvent(ctx, store.Event{At: now, Session: "s1", Kind: "step-pass", Step: 3}); err != nil {
			t.Fatal(err)
		}
		for i, line := range []string{"kubectl get pods", "kubectl get svc"} {
			if err := s.AddCommand(ctx, store.Command{Session: "s1", Step: 3, At: now.Add(time.Duration(i) * time.Second), Line: line, Exit: i}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()

		s = open(t, where)
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
		cmds, err := s.Commands(ctx, "s1", 3)
		if err != nil || len(cmds) != 2 || cmds[0].Line != "kubectl get pods" || cmds[1].Exit != 1 {
			t.Errorf("Commands = %+v, %v", cmds, err)
		}
		ready, _ := s.Sessions(ctx, "ready")
		if len(ready) != 1 {
			t.Errorf("Sessions(ready) = %d; want 1", len(ready))
		}
		all, _ := s.Sessions(ctx, "")
		if len(all) != 1 {
			t.Errorf("Sessions(\"\") = %d; want 1", len(all))
		}
	})
}

func TestNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, where string) {
		ctx := context.Background()
		s := open(t, where)
		if _, err := s.Session(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Session(nope) error = %v; want ErrNotFound", err)
		}
		if err := s.UpdateSession(ctx, store.Session{ID: "nope"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateSession(nope) error = %v; want ErrNotFound", err)
		}
		if _, err := s.Workshops().Workshop(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Workshop(nope) error = %v; want store.ErrNotFound", err)
		}
	})
}

// TestWorkshops: a workshop, its learners and their events read back the
// same on both databases; a taken join code is a conflict, not an error.
func TestWorkshops(t *testing.T) {
	storetest.Each(t, func(t *testing.T, where string) {
		ctx := context.Background()
		s := open(t, where)
		w := s.Workshops()
		now := time.UnixMilli(1_700_000_000_000)
		ws := store.Workshop{ID: "w1", Title: "Networking", Code: "ABC-123", Labs: []string{"homepage", "numbers"},
			Capacity: 30, Duration: 3 * time.Hour, Created: now, Ends: now.Add(3 * time.Hour), InstructorTokenHash: "th"}
		if err := w.CreateWorkshop(ctx, ws); err != nil {
			t.Fatal(err)
		}
		again := ws
		again.ID = "w2"
		if err := w.CreateWorkshop(ctx, again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a second workshop with code %s: %v; want ErrConflict", ws.Code, err)
		}
		got, err := w.WorkshopByCode(ctx, "ABC-123")
		if err != nil || got.ID != "w1" || !slices.Equal(got.Labs, ws.Labs) || got.Duration != ws.Duration || !got.Ends.Equal(ws.Ends) {
			t.Errorf("WorkshopByCode = %+v, %v; want %+v", got, err, ws)
		}
		for i, name := range []string{"Ada", "Grace"} {
			id := "s" + name
			if err := s.CreateSession(ctx, store.Session{ID: id, Lab: "numbers", Created: now, LastSeen: now, Expires: now, Workshop: "w1", Name: name}); err != nil {
				t.Fatal(err)
			}
			if err := w.AddLearner(ctx, store.WorkshopLearner{WorkshopID: "w1", SessionID: id, Name: name, Lab: "numbers", Joined: now.Add(time.Duration(i) * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddEvent(ctx, store.Event{At: now.Add(time.Duration(i) * time.Second), Session: id, Kind: activity.KindStepPass, Step: 1, Workshop: "w1", CheckID: "pods", Status: "pass"}); err != nil {
				t.Fatal(err)
			}
		}
		learners, err := w.Learners(ctx, "w1")
		if err != nil || len(learners) != 2 || learners[0].Name != "Ada" || learners[1].Name != "Grace" {
			t.Errorf("Learners = %+v, %v", learners, err)
		}
		evs, err := s.WorkshopEvents(ctx, "w1")
		if err != nil || len(evs) != 2 || evs[1].Name != "Grace" || evs[1].Lab != "numbers" || evs[1].CheckID != "pods" {
			t.Errorf("WorkshopEvents = %+v, %v", evs, err)
		}
	})
}

// TestReplicasMigrateTogether: kindlab replicas that start at once against
// one new database all open it (the migration runs once, the others wait).
func TestReplicasMigrateTogether(t *testing.T) {
	where := storetest.Postgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := store.Open(context.Background(), where)
			if err == nil {
				err = s.CreateSession(context.Background(), store.Session{ID: string(rune('a' + i)), Lab: "numbers"})
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

// TestOpensAnEarlierDatabase: a SQLite file made by a kindlab from before
// schema versions were kept opens with its rows.
func TestOpensAnEarlierDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kindlab.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE sessions (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, term_token TEXT NOT NULL, lab TEXT NOT NULL,
			cluster TEXT NOT NULL DEFAULT '', step INTEGER NOT NULL DEFAULT 1, state TEXT NOT NULL DEFAULT 'provisioning',
			created INTEGER NOT NULL, last_seen INTEGER NOT NULL, expires INTEGER NOT NULL, workshop TEXT NOT NULL DEFAULT '', name TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, session TEXT NOT NULL, kind TEXT NOT NULL,
			step INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '', workshop TEXT NOT NULL DEFAULT '',
			check_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '')`,
		`INSERT INTO sessions (id, token_hash, term_token, lab, cluster, step, state, created, last_seen, expires) VALUES ('old', 'h', 't', 'numbers', 'kindlab-p-1', 2, 'ready', 1, 1, 1)`,
		`INSERT INTO events (at, session, kind, step) VALUES (5, 'old', 'step-pass', 1)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := open(t, path)
	ctx := context.Background()
	got, err := s.Session(ctx, "old")
	if err != nil || got.Step != 2 || got.Cluster != "kindlab-p-1" {
		t.Errorf("Session(old) = %+v, %v", got, err)
	}
	if err := s.AddEvent(ctx, store.Event{At: time.UnixMilli(6), Session: "old", Kind: "step-start", Step: 2}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, "old")
	if err != nil || len(evs) != 2 || evs[0].ID >= evs[1].ID {
		t.Errorf("Events(old) = %+v, %v", evs, err)
	}
}

// TestTerminalOutput: a terminal's output reads back in order, the newest
// bytes when asked for fewer than were written, and only its own session's.
func TestTerminalOutput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, where string) {
		ctx := context.Background()
		s := open(t, where)
		for _, p := range []string{"$ kubectl get pods\r\n", "No resources found\r\n", "$ "} {
			if err := s.AddTerminalOutput(ctx, "s1", []byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddTerminalOutput(ctx, "s2", []byte("other")); err != nil {
			t.Fatal(err)
		}
		got, err := s.TerminalOutput(ctx, "s1", 1<<20)
		if want := "$ kubectl get pods\r\nNo resources found\r\n$ "; err != nil || string(got) != want {
			t.Errorf("TerminalOutput = %q, %v; want %q", got, err, want)
		}
		got, _ = s.TerminalOutput(ctx, "s1", 8)
		if want := "ound\r\n$ "; string(got) != want {
			t.Errorf("TerminalOutput(8 bytes) = %q; want %q", got, want)
		}
		got, _ = s.TerminalOutput(ctx, "none", 100)
		if len(got) != 0 {
			t.Errorf("TerminalOutput(none) = %q; want nothing", got)
		}
		if err := s.DeleteTerminalOutput(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.TerminalOutput(ctx, "s1", 100); len(got) != 0 {
			t.Errorf("TerminalOutput after its session ended = %q; want nothing", got)
		}
		// The oldest rows go once a session has more than it keeps.
		for range 700 {
			if err := s.AddTerminalOutput(ctx, "s2", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.TerminalOutput(ctx, "s2", 1<<20); len(got) < 500 || len(got) > 700 || string(got[:5]) == "other" {
			t.Errorf("after 701 rows, %d bytes kept (starting %q); want the newest few hundred", len(got), got[:min(5, len(got))])
		}
	})
}

func TestRedactHidesThePassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://kindlab:s3cret@db:5432/kindlab?sslmode=disable": "postgres://kindlab:xxxxx@db:5432/kindlab?sslmode=disable",
		"postgres://kindlab@db/kindlab":                             "postgres://kindlab@db/kindlab",
		"postgres://kindlab:s3c%ret@db:5432/kindlab":                "postgres://xxxxx@db:5432/kindlab", // does not parse
		"/var/lib/kindlab/kindlab.db":                               "/var/lib/kindlab/kindlab.db",
	} {
		if got := store.Redact(in); got != want || strings.Contains(got, "s3c") {
			t.Errorf("Redact(%q) = %q; want %q", in, got, want)
		}
	}
}
