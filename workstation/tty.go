package workstation

import (
	"context"
	"errors"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
)

// Terminal starts the learner's shell with a TTY in the workstation: an
// interactive bash whose rc file (terminal.rc of manifests/platform/workstation.yaml)
// reads the login environment and adds the shell integration marks kindlab
// strips from the output (shellmark.Mark). The stream lives until the shell exits, Close is called or ctx is
// done; ctx should be the session's lifetime, not a request's. Failing to start
// (no such pod, forbidden) is reported by Read, like the shell's exit status.
// lab, when not empty, names the lab whose files the first shell in the
// workstation copies from the catalog into home (see PlaceFiles). The stream
// outlives a pause of the cluster's node (see executorPreferring).
func (c *Conn) Terminal(ctx context.Context, lab string) (*TTY, error) {
	return c.tty(ctx, Namespace, Pod, Container, terminalCommand(lab))
}

// terminalCommand is the learner's shell, told its lab (terminal.rc reads and
// unsets KINDLAB_LAB).
func terminalCommand(lab string) []string {
	return []string{"env", "KINDLAB_LAB=" + lab, "bash", "--rcfile", "/kindlab/terminal.rc", "-i"}
}

func (c *Conn) tty(ctx context.Context, namespace, pod, container string, command []string) (*TTY, error) {
	if len(command) == 0 {
		return nil, errors.New("exec pod: empty command")
	}
	ex, err := c.executorPreferring(true, namespace, pod, &corev1.PodExecOptions{Container: container, Command: command, Stdin: true, Stdout: true, TTY: true})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	t := &TTY{stdin: inW, stdout: outR, cancel: cancel, sizes: make(chan remotecommand.TerminalSize, 1), done: make(chan struct{})}
	go func() {
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: inR, Stdout: outW, Tty: true, TerminalSizeQueue: t})
		cancel()
		outW.CloseWithError(err) // nil: Read returns io.EOF
		inW.Close()              // ends the stdin copier; Write returns io.ErrClosedPipe
		close(t.done)
	}()
	return t, nil
}

// TTY is a command running with a terminal in a pod: what the learner types goes
// to Write, what the terminal shows comes from Read. It is a terminal.Terminal.
type TTY struct {
	stdin  *io.PipeWriter
	stdout *io.PipeReader
	cancel context.CancelFunc
	mu     sync.Mutex // makes Resize's replace-the-pending-size atomic
	sizes  chan remotecommand.TerminalSize
	done   chan struct{} // closed when the stream has ended
}

var _ remotecommand.TerminalSizeQueue = (*TTY)(nil)

func (t *TTY) Read(p []byte) (int, error)  { return t.stdout.Read(p) }
func (t *TTY) Write(p []byte) (int, error) { return t.stdin.Write(p) }

// Resize queues the size for the stream; a size not yet sent is replaced.
func (t *TTY) Resize(cols, rows uint16) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.sizes:
	default:
	}
	t.sizes <- remotecommand.TerminalSize{Width: cols, Height: rows}
	return nil
}

// Next implements remotecommand.TerminalSizeQueue; nil ends the resizing.
func (t *TTY) Next() *remotecommand.TerminalSize {
	select {
	case s := <-t.sizes:
		return &s
	case <-t.done:
		return nil
	}
}

// Close ends the stream; Read then returns an error.
func (t *TTY) Close() error {
	t.cancel()
	return t.stdin.Close()
}
