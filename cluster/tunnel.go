package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// tunnel forwards ports on 127.0.0.1 to ports inside a pod through the host
// cluster's API (pods/portforward). It listens on its local ports for its
// whole life, so kubeconfig files and app links that name them keep working,
// and carries each connection made to one over a stream connection to the
// pod, opened again when it breaks (the host API restarted, a network blip).
//
// It speaks the port-forward protocol itself rather than through client-go's
// PortForwarder, which closes its stream connection, and every connection
// through it, when the pod side reports an error on any one (refused, reset,
// a request given up on): one probe that timed out could cut the learner's
// terminal and their checks' watches. Here an error ends the one connection
// it is about.
type tunnel struct {
	pod   string
	local []int // local port of each remote port, in order
	dial  func() (httpstream.Connection, error)
	log   *slog.Logger

	ctx       context.Context
	cancel    context.CancelFunc
	listeners []net.Listener
	wg        sync.WaitGroup
	closing   sync.Once
	done      chan struct{} // closed once the tunnel is closed
	requests  atomic.Int64  // the last request ID given

	mu      sync.Mutex
	conn    httpstream.Connection // nil while it is being opened again
	changed chan struct{}         // closed when conn is replaced
}

// reopenWait is how long a connection made while the tunnel is being opened
// again waits for it.
const reopenWait = 10 * time.Second

// openTunnel forwards remote ports of the pod to ports on 127.0.0.1 that the
// system picks, and returns once they listen.
func (h *Hosted) openTunnel(pod string, remote ...int) (*tunnel, error) {
	u, err := url.Parse(h.opts.Config.Host)
	if err != nil {
		return nil, err
	}
	u.Path = path.Join("/", u.Path, "api/v1/namespaces", h.opts.Namespace, "pods", pod, "portforward")
	rt, upgrader, err := spdy.RoundTripperFor(h.opts.Config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, h.opts.Config)
	if err != nil {
		return nil, err
	}
	dialer := portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	dial := func() (httpstream.Connection, error) {
		conn, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
		return conn, err
	}
	t, err := newTunnel(dial, pod, h.log, remote...)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", h.opts.Namespace, pod, err)
	}
	return t, nil
}

// newTunnel opens a stream connection with dial, listens on a local port for
// each remote port, and forwards until closed.
func newTunnel(dial func() (httpstream.Connection, error), pod string, log *slog.Logger, remote ...int) (*tunnel, error) {
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &tunnel{pod: pod, dial: dial, log: log, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		conn: conn, changed: make(chan struct{})}
	for _, r := range remote {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.close()
			return nil, err
		}
		t.listeners = append(t.listeners, ln)
		t.local = append(t.local, ln.Addr().(*net.TCPAddr).Port)
		t.wg.Go(func() { t.accept(ln, r) })
	}
	t.wg.Go(func() { t.keep(conn) })
	return t, nil
}

// accept carries each connection made to ln to remote port remote.
func (t *tunnel) accept(ln net.Listener, remote int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		t.wg.Go(func() { t.carry(c, remote) })
	}
}

// keep opens the stream connection again each time it breaks, until the
// tunnel is closed.
func (t *tunnel) keep(conn httpstream.Connection) {
	for {
		select {
		case <-t.ctx.Done():
			conn.Close()
			return
		case <-conn.CloseChan():
		}
		t.set(nil)
		t.log.Debug("tunnel broke; opening it again", "pod", t.pod)
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(wait):
			}
			c, err := t.dial()
			if err == nil {
				conn = c
				break
			}
			t.log.Debug("tunnel: could not open it again yet", "pod", t.pod, "error", err)
		}
		t.set(conn)
	}
}

// set makes conn the stream connection new connections go through.
func (t *tunnel) set(conn httpstream.Connection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conn = conn
	close(t.changed)
	t.changed = make(chan struct{})
}

// current returns a stream connection that has not closed, waiting up to
// reopenWait while it is being opened again.
func (t *tunnel) current() (httpstream.Connection, error) {
	giveUp := time.NewTimer(reopenWait)
	defer giveUp.Stop()
	for {
		t.mu.Lock()
		conn, changed := t.conn, t.changed
		t.mu.Unlock()
		if conn != nil && !isClosed(conn) {
			return conn, nil
		}
		select {
		case <-changed:
		case <-t.ctx.Done():
			return nil, t.ctx.Err()
		case <-giveUp.C:
			return nil, fmt.Errorf("the tunnel to pod %s was not opened again within %s", t.pod, reopenWait)
		}
	}
}

func isClosed(conn httpstream.Connection) bool {
	select {
	case <-conn.CloseChan():
		return true
	default:
		return false
	}
}

// streamsFor makes the pair of streams (error, data) for one connection to
// remote port remote in the pod. Made on a stream connection that turns out
// to have broken (the host API went away before the tunnel saw it), they are
// made again on the next one.
func (t *tunnel) streamsFor(remote int) (conn httpstream.Connection, errStream, data httpstream.Stream, err error) {
	for {
		if conn, err = t.current(); err != nil {
			return nil, nil, nil, err
		}
		errStream, data, err = t.streams(conn, remote)
		if err == nil {
			return conn, errStream, data, nil
		}
		select { // a broken stream connection closes soon after a write to it fails
		case <-conn.CloseChan():
			t.log.Debug("tunnel: streams made again after the stream connection broke", "pod", t.pod, "port", remote, "error", err)
		case <-time.After(time.Second):
			return nil, nil, nil, err
		case <-t.ctx.Done():
			return nil, nil, nil, t.ctx.Err()
		}
	}
}

// streams makes the pair of streams for one connection on conn.
func (t *tunnel) streams(conn httpstream.Connection, remote int) (errStream, data httpstream.Stream, err error) {
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(remote))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(t.requests.Add(1), 10))
	if errStream, err = conn.CreateStream(h); err != nil {
		return nil, nil, err
	}
	errStream.Close() // nothing to write on it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	if data, err = conn.CreateStream(h); err != nil {
		errStream.Reset()
		conn.RemoveStreams(errStream)
		return nil, nil, err
	}
	return errStream, data, nil
}

// carry forwards one local connection to remote port remote in the pod, as a
// pair of streams (error, data) with a request ID of its own.
func (t *tunnel) carry(local net.Conn, remote int) {
	defer local.Close()
	conn, errStream, data, err := t.streamsFor(remote)
	if err != nil {
		t.log.Debug("tunnel: connection dropped", "pod", t.pod, "port", remote, "error", err)
		return
	}
	defer conn.RemoveStreams(errStream, data)
	failed := make(chan []byte, 1)
	go func() {
		msg, _ := io.ReadAll(errStream)
		failed <- msg
	}()

	remoteDone, localFailed := make(chan struct{}), make(chan struct{})
	go func() {
		io.Copy(local, data)
		close(remoteDone)
	}()
	go func() {
		defer data.Close() // the pod reads the end of what this side sends
		if _, err := io.Copy(data, local); err != nil {
			close(localFailed)
		}
	}()
	select {
	case <-remoteDone:
	case <-localFailed:
	case <-t.ctx.Done():
	}
	data.Reset() // unsent data would hold up the error stream
	select {
	case msg := <-failed:
		if len(msg) > 0 {
			t.log.Debug("tunnel: a connection failed in the pod", "pod", t.pod, "port", remote, "error", string(msg))
		}
	case <-t.ctx.Done():
	}
}

// alive tells whether the tunnel is open or being opened again.
func (t *tunnel) alive() bool {
	select {
	case <-t.done:
		return false
	default:
		return true
	}
}

// close stops listening, ends every connection through the tunnel and waits
// for them.
func (t *tunnel) close() {
	t.closing.Do(func() {
		t.cancel()
		for _, ln := range t.listeners {
			ln.Close()
		}
		t.wg.Wait()
		close(t.done)
	})
}
