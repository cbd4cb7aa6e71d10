// Package cmdline reads the command lines a learner ran, with a real shell
// parser (mvdan.cc/sh), and matches their simple commands against the model
// commands of a lab's command checks: kubectl's verbs, resource aliases
// (ep, po, svc, deploy...), type/name forms, flags in any order and in every
// spelling (-n x, -nx, --namespace=x), label selectors as sets, and the
// command after `kubectl exec ... --`.
package cmdline

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Unknown is the Status of a call whose own exit status a command line's exit
// status does not tell (a call before `;` or in `a || b`).
const Unknown = -1

// Call is one simple command of a command line.
type Call struct {
	Words  []Word
	Status int // its exit status, or Unknown
}

// Word is one word of a call, its quotes removed. A word with an expansion in
// it ($IP, $(...)) is Dynamic: its value is not known, Text is its source.
type Word struct {
	Text    string
	Dynamic bool
}

// Parse reads line, which exited with exit, and returns its simple commands in
// order. pipe holds the exit status of each command of the line's last
// pipeline, as bash's PIPESTATUS does; it may be nil. A line that did not end
// (still running) has exit Unknown.
func Parse(line string, exit int, pipe []int) ([]Call, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", line, err)
	}
	var calls []Call
	last := len(f.Stmts) - 1
	for i, st := range f.Stmts {
		status := Unknown
		if i == last && !st.Background {
			status = exit
		}
		calls = stmtCalls(calls, st, status, pipe)
	}
	return calls, nil
}

// stmtCalls appends the calls of st, which exited with status (or Unknown).
// pipe, when not nil, is the exit status of each command of st's pipeline.
func stmtCalls(calls []Call, st *syntax.Stmt, status int, pipe []int) []Call {
	if st.Negated || st.Background {
		status = Unknown
	}
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		if len(c.Args) > 0 {
			calls = append(calls, Call{Words: words(c.Args), Status: status})
		}
	case *syntax.BinaryCmd:
		switch c.Op {
		case syntax.AndStmt:
			// a && b exited 0: both did. Otherwise which one failed is unknown.
			both := Unknown
			if status == 0 {
				both = 0
			}
			calls = stmtCalls(calls, c.X, both, nil)
			calls = stmtCalls(calls, c.Y, both, nil)
		case syntax.OrStmt:
			calls = stmtCalls(calls, c.X, Unknown, nil)
			calls = stmtCalls(calls, c.Y, Unknown, nil)
		case syntax.Pipe, syntax.PipeAll:
			parts := pipeline(c)
			known := len(pipe) == len(parts)
			for i, p := range parts {
				s := Unknown
				switch {
				case known && status != Unknown:
					s = pipe[i]
				case i == len(parts)-1:
					s = status
				}
				calls = stmtCalls(calls, p, s, nil)
			}
		}
	case *syntax.Block:
		calls = listCalls(calls, c.Stmts, status)
	case *syntax.Subshell:
		calls = listCalls(calls, c.Stmts, status)
	case *syntax.TimeClause:
		if c.Stmt != nil {
			calls = stmtCalls(calls, c.Stmt, status, pipe)
		}
	}
	return calls
}

func listCalls(calls []Call, stmts []*syntax.Stmt, status int) []Call {
	for i, st := range stmts {
		s := Unknown
		if i == len(stmts)-1 {
			s = status
		}
		calls = stmtCalls(calls, st, s, nil)
	}
	return calls
}

// pipeline flattens a | b | c into its statements.
func pipeline(c *syntax.BinaryCmd) []*syntax.Stmt {
	var out []*syntax.Stmt
	if x, ok := c.X.Cmd.(*syntax.BinaryCmd); ok && (x.Op == syntax.Pipe || x.Op == syntax.PipeAll) && !c.X.Negated {
		out = pipeline(x)
	} else {
		out = []*syntax.Stmt{c.X}
	}
	return append(out, c.Y)
}

func words(args []*syntax.Word) []Word {
	out := make([]Word, 0, len(args))
	for _, a := range args {
		out = append(out, word(a))
	}
	return out
}

// word unquotes w; any expansion makes it Dynamic.
func word(w *syntax.Word) Word {
	var b strings.Builder
	dynamic := false
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			b.WriteString(unescape(p.Value))
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if l, ok := q.(*syntax.Lit); ok {
					b.WriteString(l.Value)
				} else {
					dynamic = true
				}
			}
		default:
			dynamic = true
		}
	}
	if dynamic {
		var src strings.Builder
		syntax.NewPrinter().Print(&src, w)
		return Word{Text: src.String(), Dynamic: true}
	}
	return Word{Text: b.String()}
}

// unescape removes the backslashes of an unquoted literal.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
