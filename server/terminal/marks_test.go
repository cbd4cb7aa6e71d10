package terminal

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	markC = "\x1b]133;C\a"
	markE = "\x1b]633;E;  12  kubectl get ep \\x3b echo \\\\done\x1b\\"
	markD = "\x1b]133;D;1\a"
)

var wantMarks = []Mark{
	{Code: "133", Args: []string{"C"}},
	{Code: "633", Args: []string{"E", `  12  kubectl get ep ; echo \done`}},
	{Code: "133", Args: []string{"D", "1"}},
}

func TestMarkFilter(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantOut   string
		wantMarks []Mark
	}{
		{name: "plain output", in: "learner:~$ ls\r\nfile\r\n", wantOut: "learner:~$ ls\r\nfile\r\n"},
		{name: "a command's marks", in: "$ kubectl get ep\r\n" + markC + "No resources found\r\n" + markE + markD + "$ ",
			wantOut: "$ kubectl get ep\r\nNo resources found\r\n$ ", wantMarks: wantMarks},
		{name: "other escape sequences stay", in: "\x1b[1;32mgreen\x1b[0m \x1b]0;title\a \x1b]1337;x\a",
			wantOut: "\x1b[1;32mgreen\x1b[0m \x1b]0;title\a \x1b]1337;x\a"},
		{name: "an unterminated long sequence is output", in: "\x1b]133;" + strings.Repeat("x", maxMarkSize) + "!",
			wantOut: "\x1b]133;" + strings.Repeat("x", maxMarkSize) + "!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and split at every byte: the result is the same.
			for split := 0; split <= len(tt.in); split++ {
				var f markFilter
				out1, m1 := f.filter([]byte(tt.in[:split]))
				out2, m2 := f.filter([]byte(tt.in[split:]))
				out := string(out1) + string(out2) + string(f.flush())
				marks := append(m1, m2...)
				if out != tt.wantOut || !slices.EqualFunc(marks, tt.wantMarks, sameMark) {
					t.Fatalf("split at %d: out %q, marks %q; want %q, %q", split, out, marks, tt.wantOut, tt.wantMarks)
				}
			}
		})
	}
}

// TestMarkFilterByteAtATime: a terminal that writes one byte per read still
// never lets a mark, or a piece of one, through.
func TestMarkFilterByteAtATime(t *testing.T) {
	in := "a" + markC + "b" + markE + markD + "c"
	var f markFilter
	var out []byte
	var marks []Mark
	for i := range len(in) {
		o, m := f.filter([]byte{in[i]})
		out = append(out, o...)
		marks = append(marks, m...)
	}
	out = append(out, f.flush()...)
	if string(out) != "abc" || !slices.EqualFunc(marks, wantMarks, sameMark) {
		t.Errorf("out %q, marks %q; want %q and the three marks", out, marks, "abc")
	}
}

func sameMark(a, b Mark) bool { return a.Code == b.Code && slices.Equal(a.Args, b.Args) }

// TestSessionStripsMarks: with WithMarks, no client (nor the replay buffer) ever
// sees a mark, and the marks reach the callback in order.
func TestSessionStripsMarks(t *testing.T) {
	term := newFakeTerm(false)
	var mu sync.Mutex
	var got []Mark
	s := newTestSession(t, term, WithMarks(func(m Mark) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	c, _ := s.Attach(0, false)
	in := "$ kubectl get ep\r\n" + markC + "No resources found\r\n" + markE + markD + "$ "
	for _, part := range []string{in[:20], in[20:23], in[23:60], in[60:]} {
		term.emit([]byte(part))
	}
	var seen strings.Builder
	deadline := time.After(5 * time.Second)
	for seen.String() != "$ kubectl get ep\r\nNo resources found\r\n$ " {
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
	mu.Lock()
	defer mu.Unlock()
	if !slices.EqualFunc(got, wantMarks, sameMark) {
		t.Errorf("marks = %q; want %q", got, wantMarks)
	}
	term.exit(errors.New("bye"))
}
