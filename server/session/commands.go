package session

import (
	"context"

	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/server/store"
)

// commandChanged follows the learner's commands (see shellmark.Tracker, which
// believes the shell's marks only as far as the keystrokes agree): each start,
// first output and end looks at the current step's checks at once, and each
// command that ended is recorded with its step, and the refusals of the
// learner's budget it printed are told.
func (l *Learner) commandChanged(c shellmark.Command) {
	select {
	case l.steps.poke <- struct{}{}:
	default: // a poke is already waiting
	}
	if c.Running {
		return
	}
	now := l.m.cfg.Clock.Now()
	l.mu.Lock()
	step := l.sess.Step
	if !c.Voided {
		l.steps.ended = now
	}
	l.mu.Unlock()
	if c.Voided {
		l.log.Warn("command voided: a shell mark was printed from inside it", "step", step, "line", c.Line)
		return
	}
	l.tellRefusals(l.life, c.Output)
	rec := store.Command{Session: l.id, Step: step, At: now, Line: c.Line, Exit: c.Exit}
	l.m.saver.save("command", func(ctx context.Context) error { return l.m.cfg.Store.AddCommand(ctx, rec) })
}
