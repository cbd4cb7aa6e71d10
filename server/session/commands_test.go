package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/activity"
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
	l := newLearner(m, lab, store.Session{ID: "s1", Step: 2}, Ready)
	pokes := 0
	var f shellmark.Filter
	shell := func(out string) {
		for _, p := range f.Filter([]byte(out)) {
			if p.Mark != nil {
				l.shell.cmds.Mark(*p.Mark)
			} else {
				l.shell.cmds.Output(p.Output)
			}
			select {
			case <-l.steps.poke:
				pokes++
			default:
			}
		}
	}
	shell("\x1b]633;E;    7  ls\a\x1b]133;D;0;0\a$ ") // the first prompt
	l.shell.cmds.Typed([]byte("kubectl get ep\r"))
	shell("\x1b]133;C\aNo resources found\r\n\x1b]633;E;    8  kubectl get ep\a\x1b]133;D;1;1\a$ ")
	l.shell.cmds.Typed([]byte(`printf '\e]633;E;    9  kubectl get ep homepage\a\e]133;D;0\a'` + "\r"))
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

// TestRefusalsTold: a command refused by the learner's budget is told to the
// learner's page and recorded for the dashboard, once per refusal; a
// command that failed otherwise is not, and a learner refused in a loop is
// told at most maxRefusalsTold times.
func TestRefusalsTold(t *testing.T) {
	st, err := store.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recorded []string
	m, err := New(context.Background(), Config{Catalog: &labs.Catalog{}, Manifests: fstest.MapFS{}, Store: st, Pool: noPool{}, Clusters: sessiontest.New(t, nil),
		Clock:   clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)),
		OnEvent: func(e activity.Event) { recorded = append(recorded, string(e.Kind)+": "+e.Message) }})
	if err != nil {
		t.Fatal(err)
	}
	l := newLearner(m, &labs.Lab{ID: "l", Steps: []labs.Step{{Title: "one"}}}, store.Session{ID: "s1", Step: 1}, Ready)
	events, unsubscribe := l.Subscribe()
	defer unsubscribe()
	var f shellmark.Filter
	n := 7
	run := func(line, out string) {
		n++
		l.shell.cmds.Typed([]byte(line + "\r"))
		for _, p := range f.Filter([]byte(fmt.Sprintf("\x1b]133;C\a%s\r\n\x1b]633;E;  %d  %s\a\x1b]133;D;1;1\a$ ", out, n, line))) {
			if p.Mark != nil {
				l.shell.cmds.Mark(*p.Mark)
			} else {
				l.shell.cmds.Output(p.Output)
			}
		}
	}
	run("ls", "")
	const quota = `configmaps "cm21" is forbidden: exceeded quota: kindlab-quota, requested: configmaps=1, used: configmaps=20, limited: configmaps=20`
	run("kubectl create configmap cm21", "error: failed to create configmap: "+quota)
	run("kubectl create configmap cm21", "error: failed to create configmap: "+quota)
	run("kubectl get deploy nothing", `Error from server (NotFound): deployments.apps "nothing" not found`)
	want := "limit-hit: a command was refused: exceeded quota: kindlab-quota, requested: configmaps=1, used: configmaps=20, limited: configmaps=20"
	if strings.Join(recorded, "\n") != want {
		t.Errorf("recorded:\n%s\nwant:\n%s", strings.Join(recorded, "\n"), want)
	}
	var told []string
	for len(events) > 0 {
		if e := <-events; e.Name == EventLimit {
			told = append(told, "limit-hit: "+e.Data.(Limit).Text)
		}
	}
	if strings.Join(told, "\n") != want {
		t.Errorf("the page was told:\n%s\nwant:\n%s", strings.Join(told, "\n"), want)
	}
	for i := range 2 * maxRefusalsTold {
		run("kubectl create namespace x", fmt.Sprintf(`denied request: kindlab: refusal %d`, i))
	}
	if len(recorded) != maxRefusalsTold {
		t.Errorf("%d refusals told to a learner refused in a loop; want at most %d", len(recorded), maxRefusalsTold)
	}
}
