package terminal

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"github.com/gorilla/websocket"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// fakeExec is the exec endpoint of an API server, speaking the websocket
// remote command protocol (v5.channel.k8s.io): the first byte of each binary
// message is the stream (0 stdin, 1 stdout, 3 status, 4 resize). It echoes
// stdin and exits with status 3 on "exit 3".
type fakeExec struct {
	queries chan url.Values
	sizes   chan remotecommand.TerminalSize
}

func (f *fakeExec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/namespaces/lab/pods/workstation/exec" {
		http.Error(w, "forbidden", http.StatusForbidden)
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

func TestExecPod(t *testing.T) {
	tests := []struct {
		name     string
		pod      string
		input    string // ends the terminal; "" closes it instead
		wantCode int
		wantErr  bool
	}{
		{name: "exit status", pod: "workstation", input: "exit 3\r", wantCode: 3},
		{name: "closed by the server", pod: "workstation", wantCode: -1, wantErr: true},
		{name: "exec refused", pod: "other", wantCode: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeExec{queries: make(chan url.Values, 1), sizes: make(chan remotecommand.TerminalSize, 4)}
			srv := httptest.NewServer(api) // 127.0.0.1
			t.Cleanup(srv.Close)
			cfg := &rest.Config{Host: srv.URL}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			term, err := ExecPod(t.Context(), cfg, client, "lab", tt.pod, "shell", []string{"bash", "-l"})
			if err != nil {
				t.Fatalf("ExecPod: %v", err)
			}
			s := newTestSession(t, term)
			c, _ := s.Attach(0, false)

			if tt.pod == "workstation" {
				q := <-api.queries
				if !slices.Equal(q["command"], []string{"bash", "-l"}) || q.Get("container") != "shell" ||
					q.Get("tty") != "true" || q.Get("stdin") != "true" || q.Get("stdout") != "true" || q.Has("stderr") {
					t.Errorf("exec query = %v; want command bash -l in container shell with tty, stdin, stdout", q)
				}
				if err := c.Resize(100, 30); err != nil {
					t.Fatal(err)
				}
				if got := <-api.sizes; got != (remotecommand.TerminalSize{Width: 100, Height: 30}) {
					t.Errorf("pod terminal size = %+v; want 100x30", got)
				}
				if _, err := c.Write([]byte("echo hi\r")); err != nil {
					t.Fatal(err)
				}
				if ch := <-c.Output(); string(ch.Data) != "echo hi\r" {
					t.Errorf("output = %q; want the echo", ch.Data)
				}
				if tt.input != "" {
					c.Write([]byte(tt.input))
				} else {
					s.Close()
				}
			}
			code, err := s.Wait()
			if code != tt.wantCode || (err != nil) != tt.wantErr {
				t.Errorf("Wait() = %d, %v; want %d, error %v", code, err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestExecPodContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	api := &fakeExec{queries: make(chan url.Values, 1), sizes: make(chan remotecommand.TerminalSize, 4)}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	term, err := ExecPod(ctx, cfg, client, "lab", "workstation", "", []string{"bash"})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSession(t, term)
	<-api.queries
	cancel() // the server shuts down
	if code, err := s.Wait(); code != -1 || err == nil {
		t.Errorf("Wait() = %d, %v; want -1 and the cancellation", code, err)
	}
}
