package terminal

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kindlab/kindlab/internal/clock"
)

// fakeTerm is an in-memory Terminal. Every emit becomes exactly one Read
// (and so one chunk) as long as it is at most readSize bytes, and returns
// once the session's reader has taken it. With echo, input is emitted back.
type fakeTerm struct {
	echo      bool
	out       chan termEvent
	closed    chan struct{}
	closeOnce sync.Once
	pending   []byte // read by the session's single reader only
	inputs    chan []byte
	sizes     chan [2]uint16
}

type termEvent struct {
	data []byte
	err  error
}

func newFakeTerm(echo bool) *fakeTerm {
	return &fakeTerm{
		echo:   echo,
		out:    make(chan termEvent),
		closed: make(chan struct{}),
		inputs: make(chan []byte, 64),
		sizes:  make(chan [2]uint16, 16),
	}
}

func (t *fakeTerm) Read(p []byte) (int, error) {
	if len(t.pending) == 0 {
		select {
		case ev := <-t.out:
			if ev.err != nil {
				return 0, ev.err
			}
			t.pending = ev.data
		case <-t.closed:
			return 0, io.EOF
		}
	}
	n := copy(p, t.pending)
	t.pending = t.pending[n:]
	return n, nil
}

func (t *fakeTerm) Write(p []byte) (int, error) {
	if t.echo {
		if !t.emit(bytes.Clone(p)) {
			return 0, io.ErrClosedPipe
		}
		return len(p), nil
	}
	select {
	case t.inputs <- bytes.Clone(p):
		return len(p), nil
	case <-t.closed:
		return 0, io.ErrClosedPipe
	}
}

func (t *fakeTerm) Resize(cols, rows uint16) error {
	t.sizes <- [2]uint16{cols, rows}
	return nil
}

func (t *fakeTerm) Close() error {
	t.closeOnce.Do(func() { close(t.closed) })
	return nil
}

// emit hands data to the session's reader; it reports false if the
// terminal was closed.
func (t *fakeTerm) emit(data []byte) bool {
	select {
	case t.out <- termEvent{data: data}:
		return true
	case <-t.closed:
		return false
	}
}

// exit ends the terminal, after the output emitted so far, with err.
func (t *fakeTerm) exit(err error) { t.out <- termEvent{err: err} }

// exitErr is an exit status, like client-go's exec.CodeExitError.
type exitErr int

func (e exitErr) Error() string   { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitErr) ExitStatus() int { return int(e) }

func newFakeClock() *clock.Fake { return clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }
