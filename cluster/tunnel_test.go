package cluster

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
)

// portForwardServer answers pods/portforward over SPDY like a kubelet: each
// pair of streams (error, data) with one request ID is a connection to
// 127.0.0.1 on the port the streams name; a port that refuses gets the
// kubelet's message on the error stream. cut closes every stream connection
// it has open, as a restarting host API does.
type portForwardServer struct {
	*httptest.Server
	mu    sync.Mutex
	conns []streamhttp.Connection
}

func newPortForwardServer(t *testing.T) *portForwardServer {
	s := &portForwardServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := streamhttp.Handshake(r, w, []string{portforward.PortForwardProtocolV1Name}); err != nil {
			return
		}
		streams := make(chan streamhttp.Stream, 16)
		conn := streamspdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st streamhttp.Stream, replySent <-chan struct{}) error {
			streams <- st
			return nil
		})
		if conn == nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		pending := map[string]streamhttp.Stream{} // by request ID: the error stream, waiting for its data stream
		for {
			select {
			case <-conn.CloseChan():
				return
			case st := <-streams:
				id := st.Headers().Get(corev1.PortForwardRequestIDHeader)
				if st.Headers().Get(corev1.StreamType) == corev1.StreamTypeError {
					pending[id] = st
					continue
				}
				go forwardStreams(pending[id], st)
				delete(pending, id)
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func forwardStreams(errStream, data streamhttp.Stream) {
	defer errStream.Close()
	defer data.Close()
	port := data.Headers().Get(corev1.PortHeader)
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintf(errStream, "error forwarding port %s to pod: %v", port, err)
		data.Reset()
		return
	}
	defer c.Close()
	go io.Copy(c, data)
	io.Copy(data, c)
}

func (s *portForwardServer) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// echoServer answers each line with the same line, on a port of 127.0.0.1.
func echoServer(t *testing.T) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort is a port of 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func echoes(c net.Conn, line string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return fmt.Errorf("echoed %q; want %q", got, line)
	}
	return nil
}

// TestTunnel: connections through the tunnel reach their ports in the pod; a
// connection the pod refuses ends that connection only, the others through
// the tunnel carry on (the learner's terminal is one); when the stream
// connection is cut, the tunnel opens it again on the same local ports.
func TestTunnel(t *testing.T) {
	srv := newPortForwardServer(t)
	u, _ := url.Parse(srv.URL + "/api/v1/namespaces/kindlab-clusters/pods/p/portforward")
	rt, upgrader, err := spdy.RoundTripperFor(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	dial := func() (httpstream.Connection, error) {
		c, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
		return c, err
	}
	echo, refused := echoServer(t), closedPort(t)
	tun, err := newTunnel(dial, "p", slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})), echo, refused)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.close()
	to := func(i int) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(tun.local[i]))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	terminal := to(0) // a long-lived connection, as the learner's terminal is
	if err := echoes(terminal, "before"); err != nil {
		t.Fatalf("through the tunnel: %v", err)
	}
	app := to(1)
	app.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := app.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection the pod refused read %d bytes; want it ended", n)
	}
	time.Sleep(100 * time.Millisecond) // client-go's PortForwarder cuts everything here
	if err := echoes(terminal, "after a refused connection"); err != nil {
		t.Errorf("a connection through the tunnel after another was refused: %v", err)
	}

	srv.cut()
	if !tun.alive() {
		t.Fatal("the tunnel died with its stream connection; want it opened again")
	}
	if err := echoes(to(0), "after the cut"); err != nil {
		t.Errorf("a new connection after the stream connection was cut: %v", err)
	}

	tun.close()
	if tun.alive() {
		t.Error("alive after close")
	}
	if c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(tun.local[0])); err == nil {
		c.Close()
		t.Error("the tunnel's port still listens after close")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
