package workstation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// fakeExec is the exec endpoint of an API server, speaking the websocket
// remote command protocol (v5.channel.k8s.io): the first byte of each binary
// message is the stream (0 stdin, 1 stdout, 3 status, 4 resize). It echoes
// stdin and exits with status 3 on "exit 3". It refuses SPDY, as an API
// server without it would, and counts the SPDY upgrades asked of it.
type fakeExec struct {
	queries chan url.Values
	sizes   chan remotecommand.TerminalSize
	spdy    atomic.Int32
}

func (f *fakeExec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/namespaces/kindlab/pods/workstation/exec" {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if strings.HasPrefix(r.Header.Get("Upgrade"), "SPDY/") {
		f.spdy.Add(1)
		http.Error(w, "websockets only", http.StatusBadRequest)
		return
	}
	f.queries <- r.URL.Query()
	up := websocket.Upgrader{Subprotocols: []string{"v5.channel.k8s.io", "v4.channel.k8s.io"}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	for {
		_, b, err := ws.ReadMessage()
		if err != nil || len(b) == 0 {
			return
		}
		switch b[0] {
		case 0:
			if bytes.Contains(b, []byte("exit 3")) {
				status := `{"metadata":{},"status":"Failure","reason":"NonZeroExitCode",` +
					`"details":{"causes":[{"reason":"ExitCode","message":"3"}]}}`
				ws.WriteMessage(websocket.BinaryMessage, append([]byte{3}, status...))
				ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
				return
			}
			ws.WriteMessage(websocket.BinaryMessage, append([]byte{1}, b[1:]...))
		case 4:
			var s remotecommand.TerminalSize
			if json.Unmarshal(b[1:], &s) == nil {
				f.sizes <- s
			}
		}
	}
}

func TestTerminal(t *testing.T) {
	tests := []struct {
		name     string
		pod      string
		input    string // ends the terminal; "" closes it instead
		wantCode int    // -1: the stream ends with an error
	}{
		{name: "exit status", pod: "workstation", input: "exit 3\r", wantCode: 3},
		{name: "closed by kindlab", pod: "workstation", wantCode: -1},
		{name: "exec refused", pod: "other", wantCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeExec{queries: make(chan url.Values, 1), sizes: make(chan remotecommand.TerminalSize, 4)}
			srv := httptest.NewServer(api) // 127.0.0.1
			t.Cleanup(srv.Close)
			term, err := mustNew(t, &rest.Config{Host: srv.URL}).tty(t.Context(), Namespace, tt.pod, Container, terminalCommand("numbers"))
			if err != nil {
				t.Fatalf("tty: %v", err)
			}
			defer term.Close()
			if tt.pod == "workstation" {
				q := <-api.queries
				if api.spdy.Load() != 1 { // the websocket stream would not outlive a paused node
					t.Errorf("SPDY upgrades asked = %d; want 1, before the websocket", api.spdy.Load())
				}
				if !slices.Equal(q["command"], terminalCommand("numbers")) || q.Get("container") != "shell" ||
					q.Get("tty") != "true" || q.Get("stdin") != "true" || q.Get("stdout") != "true" || q.Has("stderr") {
					t.Errorf("exec query = %v; want the learner's shell in container shell with tty, stdin, stdout", q)
				}
				if err := term.Resize(100, 30); err != nil {
					t.Fatal(err)
				}
				if got := <-api.sizes; got != (remotecommand.TerminalSize{Width: 100, Height: 30}) {
					t.Errorf("pod terminal size = %+v; want 100x30", got)
				}
				if _, err := term.Write([]byte("echo hi\r")); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 64)
				if n, err := term.Read(buf); err != nil || string(buf[:n]) != "echo hi\r" {
					t.Errorf("Read = %q, %v; want the echo", buf[:n], err)
				}
				if tt.input != "" {
					term.Write([]byte(tt.input))
				} else {
					term.Close()
				}
			}
			_, err = io.ReadAll(term)
			var exit utilexec.ExitError
			switch {
			case tt.wantCode >= 0 && (!errors.As(err, &exit) || exit.ExitStatus() != tt.wantCode):
				t.Errorf("the stream ended with %v; want exit status %d", err, tt.wantCode)
			case tt.wantCode < 0 && err == nil:
				t.Error("the stream ended without an error; want one")
			}
		})
	}
}

func TestTerminalContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	api := &fakeExec{queries: make(chan url.Values, 1), sizes: make(chan remotecommand.TerminalSize, 4)}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	term, err := mustNew(t, &rest.Config{Host: srv.URL}).Terminal(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	<-api.queries
	cancel() // the session ends
	if _, err := io.ReadAll(term); err == nil {
		t.Error("the stream ended without an error; want the cancellation")
	}
}
