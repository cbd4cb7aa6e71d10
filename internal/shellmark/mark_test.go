package shellmark

import (
	"slices"
	"strings"
	"testing"
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
				var f Filter
				out1, m1 := join(f.Filter([]byte(tt.in[:split])))
				out2, m2 := join(f.Filter([]byte(tt.in[split:])))
				out := string(out1) + string(out2) + string(f.Flush())
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
	var f Filter
	var out []byte
	var marks []Mark
	for i := range len(in) {
		o, m := join(f.Filter([]byte{in[i]}))
		out = append(out, o...)
		marks = append(marks, m...)
	}
	out = append(out, f.Flush()...)
	if string(out) != "abc" || !slices.EqualFunc(marks, wantMarks, sameMark) {
		t.Errorf("out %q, marks %q; want %q and the three marks", out, marks, "abc")
	}
}

func sameMark(a, b Mark) bool { return a.Code == b.Code && slices.Equal(a.Args, b.Args) }

// TestFilterKeepsOrder: output and marks come out in the order written.
func TestFilterKeepsOrder(t *testing.T) {
	var f Filter
	var got []string
	for _, p := range f.Filter([]byte("a" + markC + "b" + markD + "c")) {
		if p.Mark != nil {
			got = append(got, p.Mark.Code+";"+strings.Join(p.Mark.Args, ";"))
		} else {
			got = append(got, string(p.Output))
		}
	}
	if want := []string{"a", "133;C", "b", "133;D;1", "c"}; !slices.Equal(got, want) {
		t.Errorf("pieces = %q; want %q", got, want)
	}
}

// join splits pieces into the output and the marks.
func join(pieces []Piece) (out []byte, marks []Mark) {
	for _, p := range pieces {
		if p.Mark != nil {
			marks = append(marks, *p.Mark)
		} else {
			out = append(out, p.Output...)
		}
	}
	return out, marks
}
