package terminal

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/internal/shellmark"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	typed  strings.Builder
	output strings.Builder
	marks  []string
}

func (r *recorder) Typed(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.typed.Write(p)
}

func (r *recorder) Output(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.output.Write(p)
}

func (r *recorder) Mark(m shellmark.Mark) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marks = append(r.marks, m.Code+";"+strings.Join(m.Args, ";"))
}

// TestSessionStripsMarks: with WithObserver, no client (nor the replay buffer)
// ever sees a mark, the marks reach the observer in order, and so does what a
// client typed.
func TestSessionStripsMarks(t *testing.T) {
	term := newFakeTerm(false)
	rec := &recorder{}
	s := newTestSession(t, term, WithObserver(rec))
	c, _ := s.Attach(0, false)
	if _, err := c.Write([]byte("kubectl get ep\r")); err != nil {
		t.Fatal(err)
	}
	in := "$ kubectl get ep\r\n\x1b]133;C\aNo resources found\r\n\x1b]633;E;  12  kubectl get ep\x1b\\\x1b]133;D;1\a$ "
	for _, part := range []string{in[:20], in[20:23], in[23:60], in[60:]} {
		term.emit([]byte(part))
	}
	const want = "$ kubectl get ep\r\nNo resources found\r\n$ "
	var seen strings.Builder
	deadline := time.After(5 * time.Second)
	for seen.String() != want {
		select {
		case ch := <-c.Output():
			seen.Write(ch.Data)
		case <-deadline:
			t.Fatalf("client saw %q", seen.String())
		}
	}
	if strings.Contains(seen.String(), "\x1b]") {
		t.Errorf("a mark reached the client: %q", seen.String())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if want := []string{"133;C", "633;E;  12  kubectl get ep", "133;D;1"}; !slices.Equal(rec.marks, want) {
		t.Errorf("marks = %q; want %q", rec.marks, want)
	}
	if rec.output.String() != want {
		t.Errorf("observed output %q; want %q", rec.output.String(), want)
	}
	if rec.typed.String() != "kubectl get ep\r" {
		t.Errorf("observed input %q", rec.typed.String())
	}
	term.exit(errors.New("bye"))
}
