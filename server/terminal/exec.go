package terminal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// ExecPod runs command with a TTY in a container of a pod and returns it as a
// Terminal. The stream lives until the command exits, Close is called or ctx
// is done; ctx should be the server's lifetime context, not a request's.
// Failing to start (no such pod, forbidden) is reported by Read, like the
// command's exit status. It speaks the websocket exec protocol and falls back
// to SPDY for API servers that do not.
func ExecPod(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, namespace, pod, container string, command []string) (Terminal, error) {
	if len(command) == 0 {
		return nil, errors.New("exec pod: empty command")
	}
	req := client.CoreV1().RESTClient().Post().
		Namespace(namespace).Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   command,
			Stdin:     true,
			Stdout:    true,
			TTY:       true,
		}, scheme.ParameterCodec)
	exec, err := newExecutor(cfg, req.URL())
	if err != nil {
		return nil, fmt.Errorf("exec pod %s/%s: %w", namespace, pod, err)
	}

	ctx, cancel := context.WithCancel(ctx)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	t := &podTerminal{
		stdin:  inW,
		stdout: outR,
		cancel: cancel,
		sizes:  make(chan remotecommand.TerminalSize, 1),
		done:   make(chan struct{}),
	}
	go func() {
		err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{
			Stdin:             inR,
			Stdout:            outW,
			Tty:               true,
			TerminalSizeQueue: t,
		})
		cancel()
		outW.CloseWithError(err) // nil: Read returns io.EOF
		inW.Close()              // ends the stdin copier; Write returns io.ErrClosedPipe
		close(t.done)
	}()
	return t, nil
}

func newExecutor(cfg *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
	if err != nil {
		return nil, err
	}
	// The websocket executor must use GET (RFC 6455 section 4.1).
	ws, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, u.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// podTerminal is a Terminal over a remotecommand stream; it is the stream's
// TerminalSizeQueue.
type podTerminal struct {
	stdin  *io.PipeWriter
	stdout *io.PipeReader
	cancel context.CancelFunc
	mu     sync.Mutex // makes Resize's replace-the-pending-size atomic
	sizes  chan remotecommand.TerminalSize
	done   chan struct{} // closed when the stream has ended
}

var (
	_ Terminal                        = (*podTerminal)(nil)
	_ remotecommand.TerminalSizeQueue = (*podTerminal)(nil)
)

func (t *podTerminal) Read(p []byte) (int, error)  { return t.stdout.Read(p) }
func (t *podTerminal) Write(p []byte) (int, error) { return t.stdin.Write(p) }

// Resize queues the size for the stream; a size not yet sent is replaced.
func (t *podTerminal) Resize(cols, rows uint16) error {
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
func (t *podTerminal) Next() *remotecommand.TerminalSize {
	select {
	case s := <-t.sizes:
		return &s
	case <-t.done:
		return nil
	}
}

// Close ends the stream; Read then returns an error.
func (t *podTerminal) Close() error {
	t.cancel()
	return t.stdin.Close()
}
