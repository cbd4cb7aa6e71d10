package workstation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kindlab/kindlab/internal/shellmark"
)

// Typist drives the learner's shell the way a learner clicking a step's Run
// buttons does: in a real terminal, with the workstation's shell integration,
// each command typed with Enter, Ctrl-C first for a run-interrupt block, and a
// command that keeps running (a port-forward) left running when the learner
// would go on. Validate and fast-forward use it, so "validate passes" means
// the lab as written can be passed.
type Typist struct {
	// Settle is how long a command that has not ended runs before the Typist
	// takes it for one that keeps running; DefaultSettle when zero.
	Settle time.Duration

	term io.ReadWriteCloser
	cmds *shellmark.Tracker
	done chan struct{} // closed when the terminal's output ended

	mu     sync.Mutex
	output strings.Builder // the last MaxOutput bytes the terminal showed
}

// DefaultSettle is the Settle of a Typist.
const DefaultSettle = 5 * time.Second

// Typist starts the learner's shell in a new terminal of the workstation (lab
// as for Terminal).
func (c *Conn) Typist(ctx context.Context, lab string) (*Typist, error) {
	tty, err := c.Terminal(ctx, lab)
	if err != nil {
		return nil, err
	}
	t := NewTypist(tty)
	if err := t.WaitPrompt(ctx, time.Minute); err != nil {
		t.Close()
		return nil, fmt.Errorf("workstation shell: %w", err)
	}
	return t, nil
}

// NewTypist follows term, a terminal running bash with the workstation's
// terminal.rc.
func NewTypist(term io.ReadWriteCloser) *Typist {
	t := &Typist{term: term, done: make(chan struct{})}
	t.cmds = shellmark.NewTracker(time.Now, nil)
	go t.read()
	return t
}

func (t *Typist) read() {
	defer close(t.done)
	var f shellmark.Filter
	buf := make([]byte, 32<<10)
	for {
		n, err := t.term.Read(buf)
		for _, p := range f.Filter(buf[:n]) {
			if p.Mark != nil {
				t.cmds.Mark(*p.Mark)
				continue
			}
			t.cmds.Output(p.Output)
			t.mu.Lock()
			t.output.Write(p.Output)
			if s := t.output.String(); len(s) > shellmark.MaxOutput {
				t.output.Reset()
				t.output.WriteString(s[len(s)-shellmark.MaxOutput/2:])
			}
			t.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// Commands is what the shell ran, as command checks see it.
func (t *Typist) Commands() *shellmark.Tracker { return t.cmds }

// Screen returns the end of what the terminal showed, for error messages.
func (t *Typist) Screen() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.output.String()
}

// WaitPrompt waits until the shell is at its prompt.
func (t *Typist) WaitPrompt(ctx context.Context, timeout time.Duration) error {
	return t.wait(ctx, timeout, func() bool { _, idle := t.cmds.Prompts(); return idle }, "the prompt did not come back")
}

// Line is a command as a Run button types it.
type Line struct {
	Command   string // typed as it is, each newline as Enter
	Interrupt bool   // Ctrl-C first, to end what the command before left running
}

// Run types b as its Run button does and waits for the command to end. When
// it has not ended after t.Settle and mayLeave is set (the learner would go on:
// the next block interrupts it, or there is none), Run returns it running.
// The error is for a command that could not be typed or did not end within
// timeout; a command that ended with a failure is not an error.
func (t *Typist) Run(ctx context.Context, b Line, mayLeave bool, timeout time.Duration) (shellmark.Command, error) {
	if b.Interrupt {
		if err := t.Interrupt(ctx); err != nil {
			return shellmark.Command{}, err
		}
	} else if err := t.WaitPrompt(ctx, timeout); err != nil {
		return shellmark.Command{}, err
	}
	seq := t.cmds.Next()
	prompts, _ := t.cmds.Prompts()
	// The Tracker's Typed is what kindlab's terminal session calls for a
	// browser's keystrokes, before the shell can see them; here the Typist is
	// the browser.
	keys := []byte(strings.ReplaceAll(b.Command, "\n", "\r") + "\r")
	t.cmds.Typed(keys)
	if _, err := t.term.Write(keys); err != nil {
		return shellmark.Command{}, fmt.Errorf("type %q: %w", b.Command, err)
	}
	start, settle := time.Now(), t.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	var cmd shellmark.Command
	believed := true
	err := t.wait(ctx, timeout, func() bool {
		c, ok := t.cmds.Command(seq)
		if !ok { // not believed: done when the prompt is back
			n, idle := t.cmds.Prompts()
			believed = false
			return idle && n > prompts && t.cmds.Next() > seq
		}
		cmd, believed = c, true
		return !c.Running || (mayLeave && time.Since(start) >= settle)
	}, fmt.Sprintf("%q did not finish", b.Command))
	if err == nil && !believed {
		err = fmt.Errorf("%q ran, but the shell's marks for it were not believed (did it print marks of its own?)", b.Command)
	}
	return cmd, err
}

// Interrupt presses Ctrl-C and waits for the prompt it brings (bash draws a
// new one even when no command was running).
func (t *Typist) Interrupt(ctx context.Context) error {
	before, _ := t.cmds.Prompts()
	t.cmds.Typed([]byte{0x03})
	if _, err := t.term.Write([]byte{0x03}); err != nil {
		return fmt.Errorf("press Ctrl-C: %w", err)
	}
	return t.wait(ctx, 30*time.Second, func() bool {
		n, idle := t.cmds.Prompts()
		return idle && n > before
	}, "the prompt did not come back after Ctrl-C")
}

func (t *Typist) wait(ctx context.Context, timeout time.Duration, ok func() bool, what string) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.done:
			return errors.New("the workstation shell ended")
		case <-deadline.C:
			return fmt.Errorf("%s within %s", what, timeout)
		case <-tick.C:
		}
	}
	return nil
}

// Close ends the shell, and with it any command still running.
func (t *Typist) Close() error { return t.term.Close() }
