package session

import (
	"errors"
	"fmt"

	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
)

// shell is the learner's terminal: the shell in their workstation, and the
// commands run in it.
type shell struct {
	cmds     *shellmark.Tracker // the commands run in the terminal (commands.go)
	term     *terminal.Session  // nil until a shell starts, and after it is closed
	lastTerm *terminal.Session  // the one before term: a new shell starts with its output
	output   outputSaved        // how far term's output is in the store (output.go)
	starting bool               // a shell is starting (Terminal); l.settled tells when it is done
}

// NewShellText is the terminal's notice when a new shell starts after one the
// learner had (it ended, the cluster was replaced, kindlab restarted).
const NewShellText = "A new shell: your earlier output is above."

// ErrNotReady is returned for what needs the learner's cluster before it is ready.
var ErrNotReady = errors.New("the cluster is not ready yet")

// Terminal returns the learner's terminal session, starting a shell in the
// workstation when there is none or the last one ended.
func (l *Learner) Terminal() (*terminal.Session, error) {
	l.mu.Lock()
	for l.shell.starting { // one shell starts at a time
		l.settled.Wait()
	}
	t, conn, ready := l.shell.term, l.link.conn, l.phase.stored() == store.StateReady
	if t != nil {
		select {
		case <-t.Done():
		default:
			l.mu.Unlock()
			return t, nil
		}
	}
	if conn == nil || !ready {
		l.mu.Unlock()
		return nil, ErrNotReady
	}
	l.shell.starting = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.shell.starting = false
		l.settled.Broadcast()
		l.mu.Unlock()
	}()
	if err := l.Wake(l.life); err != nil {
		return nil, ErrNotReady // a new cluster is on its way
	}
	tty, err := conn.Terminal(l.life, l.lab.ID)
	if err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	l.shell.cmds.Restart()
	if t == nil {
		l.mu.Lock()
		t = l.shell.lastTerm
		l.mu.Unlock()
	}
	history := l.history(t)
	t, err = terminal.NewSession(tty, terminal.WithLogger(l.log), terminal.WithClock(l.m.cfg.Clock),
		terminal.WithObserver(typing{l.shell.cmds, l.Active}), terminal.WithHistory(history))
	if err != nil {
		tty.Close()
		return nil, err
	}
	_, seq := t.Since(0)
	if len(history) > 0 {
		t.Notice(NewShellText)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.link.conn != conn || l.life.Err() != nil { // reset, lost or ended meanwhile
		t.Close()
		return nil, ErrNotReady
	}
	l.shell.term, l.shell.lastTerm, l.shell.output = t, nil, outputSaved{t.Epoch(), seq}
	return t, nil
}

// typing is the terminal's observer: the command tracker, told too that the
// learner is active (a keystroke wakes a paused cluster; the shell takes it
// once the node thaws).
type typing struct {
	*shellmark.Tracker
	active func()
}

func (t typing) Typed(p []byte) {
	t.Tracker.Typed(p)
	t.active()
}

// startShell starts the learner's shell in the background, so that it has
// drawn its prompt by the time the page's terminal connects.
func (l *Learner) startShell() {
	go func() {
		if _, err := l.Terminal(); err != nil && !errors.Is(err, ErrNotReady) {
			l.log.Warn("could not start the shell before the page asked", "error", err)
		}
	}()
}
