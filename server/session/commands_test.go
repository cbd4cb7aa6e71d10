package session

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/store"
)

func mark(code string, args ...string) shellmark.Mark { return shellmark.Mark{Code: code, Args: args} }

// TestCommandMarks: the marks of a terminal become the step's commands, each
// poking the checks; an empty line, the first prompt and marks out of order
// record nothing, and a line kept out of history is recorded without its text.
func TestCommandMarks(t *testing.T) {
	st, err := store.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := &Manager{cfg: Config{Store: st, Clock: clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)), Logger: slog.New(slog.DiscardHandler)},
		ctx: context.Background()}
	lab := &labs.Lab{ID: "l", Steps: []labs.Step{{Title: "one"}, {Title: "two"}}}
	l := newLearner(m, lab, store.Session{ID: "s1", Step: 2})
	on := l.commandMarks()
	pokes := 0
	feed := func(marks ...shellmark.Mark) {
		for _, mk := range marks {
			on.Mark(mk)
			select {
			case <-l.poke:
				pokes++
			default:
			}
		}
	}
	feed(mark("633", "E", "   7  ls"), mark("133", "D", "0"))                                // the first prompt
	feed(mark("133", "C"), mark("633", "E", "    8  kubectl get ep"), mark("133", "D", "1")) // a command that failed
	feed(mark("633", "E", "    8  kubectl get ep"), mark("133", "D", "0"))                   // Enter on an empty line
	feed(mark("133", "C"), mark("633", "E", "    8  kubectl get ep"), mark("133", "D", "0")) // " secret": not in history
	feed(mark("133", "C"), mark("633", "E", "    9  curl -s numbers-api/rng"), mark("133", "D", "0"))
	feed(mark("133", "D", "5"), mark("133"), mark("633", "E")) // stray and empty marks

	got, err := st.Commands(context.Background(), "s1", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Command{{Line: "kubectl get ep", Exit: 1}, {Line: "", Exit: 0}, {Line: "curl -s numbers-api/rng", Exit: 0}}
	if len(got) != len(want) {
		t.Fatalf("recorded %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i].Line != want[i].Line || got[i].Exit != want[i].Exit || got[i].Step != 2 {
			t.Errorf("command %d = %+v; want %+v on step 2", i, got[i], want[i])
		}
	}
	if pokes != 3 {
		t.Errorf("%d pokes; want one per command (3)", pokes)
	}
}
