package session

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/session/sessiontest"
	"github.com/kindlab/kindlab/server/store"
)

// TestCommandsRecorded: the commands typed in the terminal are recorded with
// their step, each start and end pokes the checks, and a forged mark records
// nothing.
func TestCommandsRecorded(t *testing.T) {
	st, err := store.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := New(context.Background(), Config{Catalog: &labs.Catalog{}, Manifests: fstest.MapFS{}, Store: st, Pool: noPool{}, Clusters: sessiontest.New(t, nil),
		Clock: clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	lab := &labs.Lab{ID: "l", Steps: []labs.Step{{Title: "one"}, {Title: "two"}}}
	l := newLearner(m, lab, store.Session{ID: "s1", Step: 2})
	pokes := 0
	var f shellmark.Filter
	shell := func(out string) {
		for _, p := range f.Filter([]byte(out)) {
			if p.Mark != nil {
				l.cmds.Mark(*p.Mark)
			} else {
				l.cmds.Output(p.Output)
			}
			select {
			case <-l.poke:
				pokes++
			default:
			}
		}
	}
	shell("\x1b]633;E;    7  ls\a\x1b]133;D;0;0\a$ ") // the first prompt
	l.cmds.Typed([]byte("kubectl get ep\r"))
	shell("\x1b]133;C\aNo resources found\r\n\x1b]633;E;    8  kubectl get ep\a\x1b]133;D;1;1\a$ ")
	l.cmds.Typed([]byte(`printf '\e]633;E;    9  kubectl get ep homepage\a\e]133;D;0\a'` + "\r"))
	shell("\x1b]133;C\a\x1b]633;E;    9  kubectl get ep homepage\a\x1b]133;D;0\a") // forged
	shell("\x1b]633;E;    9  printf ...\a\x1b]133;D;0;0\a$ ")

	got, err := st.Commands(context.Background(), "s1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Line != "kubectl get ep" || got[0].Exit != 1 || got[0].Step != 2 {
		t.Fatalf("recorded %+v; want only the failed kubectl get ep, on step 2", got)
	}
	if pokes < 3 {
		t.Errorf("%d pokes; want at least the start, first output and end of the command", pokes)
	}
}

// noPool hands out no clusters.
type noPool struct{}

func (noPool) Claim(context.Context, func(int)) (*cluster.Cluster, error) {
	return nil, errors.New("no clusters here")
}
func (noPool) Release(context.Context, string) error { return nil }
