package session_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/store/storetest"
)

// TestStoreFaultsLoseNothing: while kindlab cannot write to its database (a
// real SQLite file, locked by another process's transaction, or on a disk
// that is full; a real PostgreSQL server whose connections are lost), the learner works on: the step passes, the instructor hears
// of it at once, the page says saving is delayed, and once the fault clears
// every write lands, in order, and the page says so.
func TestStoreFaultsLoseNothing(t *testing.T) {
	faults := []struct {
		name string
		// setup makes the database and says how to break it until clear.
		setup func(t *testing.T) (where string, inject func() (clear func()))
	}{
		{name: "database locked", setup: func(t *testing.T) (string, func() func()) {
			path := filepath.Join(t.TempDir(), "kindlab.db")
			return path, func() func() { return lockDatabase(t, path) }
		}},
		{name: "disk full", setup: func(t *testing.T) (string, func() func()) {
			path := filepath.Join(smallDisk(t), "kindlab.db")
			return path, func() func() { return fillDisk(t, path) }
		}},
		{name: "postgres connection lost", setup: func(t *testing.T) (string, func() func()) {
			return storetest.Cuttable(t, storetest.Postgres(t))
		}},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			where, inject := fault.setup(t)
			st, err := store.Open(context.Background(), where)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			f := newFixture(t, func(c *session.Config) { c.Store = st })
			l, events := startReady(t, f)
			if s, n := f.m.Saving(); n != 0 || s.Delayed {
				t.Fatalf("saving %+v with %d writes waiting before the fault", s, n)
			}

			clear := inject()
			createConfigMap(t, f.clusters.Cluster(l.Session().Cluster), "first")
			waitFor(t, events, "step 1 passing", allPassed(1))
			waitFor(t, events, "saving delayed", func(e session.Event) bool {
				s, ok := e.Data.(session.Saving)
				return ok && s.Delayed && s.Text == session.SavingDelayedText
			})
			waitUntil(t, func() bool { return slices.Contains(f.kinds(), activity.KindStepPass) }, "the instructor told of the pass")
			l.GoTo(2) // more writes queue behind the first
			if _, n := f.m.Saving(); n < 2 {
				t.Errorf("%d writes waiting; want the step pass and what followed", n)
			}

			clear()
			waitFor(t, events, "saved again", func(e session.Event) bool {
				s, ok := e.Data.(session.Saving)
				return ok && !s.Delayed && s.Text == session.SavingAgainText
			})
			ctx := context.Background()
			prog, err := st.Progress(ctx, l.ID())
			if err != nil || prog[1].Passed.IsZero() || prog[2].Started.IsZero() {
				t.Errorf("stored progress = %+v, %v; want step 1 passed and step 2 started", prog, err)
			}
			stored, err := st.Session(ctx, l.ID())
			if err != nil || stored.Step != 2 {
				t.Errorf("stored session = %+v, %v; want step 2", stored, err)
			}
			evs, err := st.Events(ctx, l.ID())
			if err != nil {
				t.Fatal(err)
			}
			var kinds []activity.Kind
			for _, e := range evs {
				kinds = append(kinds, e.Kind)
			}
			if want := f.kinds(); !slices.Equal(kinds, want) {
				t.Errorf("stored events %v; want every event the dashboards saw, in order: %v", kinds, want)
			}
		})
	}
}

// lockDatabase holds an exclusive transaction on db from a connection of its
// own, as another process would, until clear.
func lockDatabase(t *testing.T, db string) func() {
	other, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
			t.Error(err)
		}
		conn.Close()
	}
}

// smallDisk mounts a 2 MiB tmpfs for the database.
func smallDisk(t *testing.T) string {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "kindlab-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a small disk (the test needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk fills db's disk to the last byte, until clear.
func fillDisk(t *testing.T, db string) func() {
	fill := filepath.Join(filepath.Dir(db), "fill")
	fh, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	block := make([]byte, 4096)
	for {
		if _, err := fh.Write(block); err != nil {
			break // the disk is full
		}
	}
	for _, n := range []int{512, 1} { // and the last partial block
		for {
			if _, err := fh.Write(block[:n]); err != nil {
				break
			}
		}
	}
	return func() {
		if err := os.Remove(fill); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Error(err)
		}
	}
}
