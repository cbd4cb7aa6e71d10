package session

import (
	"context"
	"strconv"
	"strings"

	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
)

// commandMarks follows the shell integration marks of one terminal (see
// terminal.Mark and the workstation's terminal.rc): when a command line ends,
// the current step's checks are looked at at once, and the command is recorded
// with its step, history entry and exit code. The marks come from the
// learner's shell, which the learner controls, so they only say when to look:
// nothing passes because of a mark.
func (l *Learner) commandMarks() terminal.Observer {
	running := false  // a command line started (133 C) and has not ended
	entry := ""       // the last history entry the shell reported (633 E)
	lastNumber := "-" // the history number of the last command recorded
	return markFunc(func(m shellmark.Mark) {
		if len(m.Args) == 0 {
			return
		}
		switch {
		case m.Code == "133" && m.Args[0] == "C":
			running = true
		case m.Code == "633" && m.Args[0] == "E" && len(m.Args) == 2:
			entry = m.Args[1]
		case m.Code == "133" && m.Args[0] == "D":
			number, line := historyEntry(entry)
			if !running { // the first prompt, or an empty line
				lastNumber = number
				return
			}
			running = false
			if number == lastNumber {
				line = "" // not in history (it began with a space)
			}
			lastNumber = number
			exit := -1
			if len(m.Args) > 1 {
				if n, err := strconv.Atoi(m.Args[1]); err == nil {
					exit = n
				}
			}
			l.commandEnded(line, exit)
		}
	})
}

// markFunc is an Observer of marks only.
type markFunc func(shellmark.Mark)

func (f markFunc) Typed([]byte)          {}
func (f markFunc) Output([]byte)         {}
func (f markFunc) Mark(m shellmark.Mark) { f(m) }

// historyEntry splits bash's "  12  kubectl get pods" into its number and line.
func historyEntry(s string) (number, line string) {
	s = strings.TrimLeft(s, " ")
	number, line, _ = strings.Cut(s, " ")
	return number, strings.TrimLeft(line, " ")
}

// commandEnded pokes the step's checks and records the command.
func (l *Learner) commandEnded(line string, exit int) {
	now := l.m.cfg.Clock.Now()
	l.mu.Lock()
	l.ended = now
	step := l.sess.Step
	l.mu.Unlock()
	select {
	case l.poke <- struct{}{}:
	default: // a poke is already waiting
	}
	c := store.Command{Session: l.id, Step: step, At: now, Line: line, Exit: exit}
	if err := l.m.cfg.Store.AddCommand(context.WithoutCancel(l.life), c); err != nil {
		l.log.Error("record command", "error", err)
	}
}
