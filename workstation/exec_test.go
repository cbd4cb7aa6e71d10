package workstation

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// execServer answers pods/exec over websockets like a kubelet: it writes
// stdout and stderr, then the exit status on the error channel.
func execServer(t *testing.T, stdout, stderr string, code int) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/api/v1/namespaces/default/pods/sleep-abc/exec" || q.Get("container") != "main" ||
			!slices.Equal(q["command"], []string{"sh", "-c", "exit 3"}) {
			t.Errorf("exec request %s", r.URL)
		}
		if !wsstream.IsWebSocketRequest(r) {
			http.Error(w, "websockets only", http.StatusBadRequest)
			return
		}
		channels := []wsstream.ChannelType{wsstream.IgnoreChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.IgnoreChannel}
		conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
			"v5.channel.k8s.io": {Binary: true, Channels: channels},
			"v4.channel.k8s.io": {Binary: true, Channels: channels},
		})
		_, streams, err := conn.Open(w, r)
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		defer conn.Close()
		streams[1].Write([]byte(stdout))
		streams[2].Write([]byte(stderr))
		status := metav1.Status{Status: metav1.StatusSuccess}
		if code != 0 {
			status = metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode", Details: &metav1.StatusDetails{
				Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}},
			}}
		}
		b, _ := json.Marshal(status)
		streams[3].Write(b)
	}))
}

func TestExec(t *testing.T) {
	tests := []struct {
		name string
		code int
	}{
		{"success", 0},
		{"exit code", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := execServer(t, "out\n", "err\n", tt.code)
			defer srv.Close()
			cfg := &rest.Config{Host: srv.URL}
			ex := mustNew(t, cfg)
			stdout, stderr, code, err := ex.Exec(context.Background(), "default", "sleep-abc", "main", []string{"sh", "-c", "exit 3"})
			if stdout != "out\n" || stderr != "err\n" || code != tt.code || err != nil {
				t.Errorf("Exec = %q, %q, %d, %v; want %q, %q, %d, nil", stdout, stderr, code, err, "out\n", "err\n", tt.code)
			}
		})
	}
}

func TestExecTransportError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	ex := mustNew(t, cfg)
	_, _, code, err := ex.Exec(context.Background(), "default", "sleep-abc", "main", []string{"true"})
	if err == nil || code != -1 {
		t.Errorf("Exec = %d, %v; want -1 and an error", code, err)
	}
}

func TestCapped(t *testing.T) {
	c := &capped{max: 5}
	for _, s := range []string{"abc", "def", "ghi"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if c.String() != "abcde" {
		t.Errorf("kept %q; want %q", c.String(), "abcde")
	}
}

func mustNew(t *testing.T, cfg *rest.Config) *Conn {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
