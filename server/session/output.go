package session

import (
	"context"
	"time"

	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/server/terminal"
)

// outputSaveEvery is how often each learner's new terminal output is written
// to the store: what a kindlab killed outright can lose of it.
const outputSaveEvery = time.Second

// outputSaved is how far a learner's terminal output is in the store.
type outputSaved struct {
	epoch string // the terminal session's (terminal.Session.Epoch)
	seq   uint64 // its last chunk stored
}

// keepOutput writes, every outputSaveEvery until ctx ends, what each
// learner's terminal wrote since the last write, so that it outlives this
// process: after a restart the learner's new shell starts with it (history).
// A write that fails is not queued: the next one carries its output too, as
// far as the terminal's replay buffer still holds it.
func (m *Manager) keepOutput(ctx context.Context) {
	clock.Every(ctx, m.cfg.Clock, outputSaveEvery, func() {
		for _, l := range m.all() {
			l.saveOutput(ctx)
		}
	})
}

func (l *Learner) saveOutput(ctx context.Context) {
	l.mu.Lock()
	t, saved := l.shell.term, l.shell.output
	l.mu.Unlock()
	if t == nil || t.Epoch() != saved.epoch {
		return
	}
	data, last := t.Since(saved.seq)
	if len(data) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, saveTimeout)
	defer cancel()
	if err := l.m.cfg.Store.AddTerminalOutput(ctx, l.id, data); err != nil {
		l.log.Warn("save terminal output; trying again with the next", "error", err)
		return
	}
	l.mu.Lock()
	if l.shell.output.epoch == saved.epoch {
		l.shell.output.seq = last
	}
	l.mu.Unlock()
}

// history is the output a learner's new shell starts with: the last
// terminal's, or, when this process has had none for them (kindlab
// restarted), what the store kept.
func (l *Learner) history(prev *terminal.Session) []byte {
	if prev != nil {
		out, _ := prev.Since(0)
		return out
	}
	ctx, cancel := context.WithTimeout(l.life, saveTimeout)
	defer cancel()
	out, err := l.m.cfg.Store.TerminalOutput(ctx, l.id, terminal.DefaultBufferSize)
	if err != nil {
		l.log.Warn("the terminal's earlier output could not be read; the new shell starts without it", "error", err)
	}
	return out
}
