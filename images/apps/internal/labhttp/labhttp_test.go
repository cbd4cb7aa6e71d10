package labhttp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		name    string
		port    string
		want    string
		wantErr string
	}{
		{name: "default", port: "", want: ":80"},
		{name: "set", port: "8080", want: ":8080"},
		{name: "spaces", port: " 8080 ", want: ":8080"},
		{name: "not a number", port: "http", wantErr: `PORT="http" is not a port number`},
		{name: "zero", port: "0", wantErr: `PORT="0" is outside 1-65535`},
		{name: "too big", port: "70000", wantErr: `PORT="70000" is outside 1-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ListenAddr(env(map[string]string{"PORT": tt.port}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ListenAddr(PORT=%q) error = %v; want it to contain %q", tt.port, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ListenAddr(PORT=%q) = %q, %v; want %q, nil", tt.port, got, err, tt.want)
			}
		})
	}
}

func TestHandlerLogsAndSetsServedBy(t *testing.T) {
	tests := []struct {
		name   string
		h      http.HandlerFunc
		status int
		want   []string
	}{
		{
			name:   "implicit 200",
			h:      func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") },
			status: http.StatusOK,
			want:   []string{"status=200", "bytes=2"},
		},
		{
			name:   "nothing written",
			h:      func(w http.ResponseWriter, r *http.Request) {},
			status: http.StatusOK,
			want:   []string{"status=200", "bytes=0"},
		},
		{
			name: "error with extra attrs",
			h: func(w http.ResponseWriter, r *http.Request) {
				AddAttrs(r.Context(), slog.String("outcome", "broken"))
				http.Error(w, "nope", http.StatusTeapot)
			},
			status: http.StatusTeapot,
			want:   []string{"status=418", "outcome=broken"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			req := httptest.NewRequest(http.MethodGet, "/some/path?q=1", nil)
			req.Header.Set("User-Agent", "curl/8.0")
			rec := httptest.NewRecorder()
			Handler(logger, "pod-abc", tt.h).ServeHTTP(rec, req)

			if rec.Code != tt.status {
				t.Errorf("status = %d; want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("X-Served-By"); got != "pod-abc" {
				t.Errorf("X-Served-By = %q; want %q", got, "pod-abc")
			}
			line := buf.String()
			if n := strings.Count(line, "\n"); n != 1 {
				t.Fatalf("logged %d lines; want 1:\n%s", n, line)
			}
			want := append([]string{"msg=request", "method=GET", "path=/some/path", "remote=192.0.2.1:1234", "user_agent=curl/8.0", "duration="}, tt.want...)
			for _, w := range want {
				if !strings.Contains(line, w) {
					t.Errorf("log line %q does not contain %q", line, w)
				}
			}
		})
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, logger, ln, http.HandlerFunc(OK)) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("GET /healthz = %d %q; want 200 %q", resp.StatusCode, body, "ok\n")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve() = %v; want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if !strings.Contains(buf.String(), "msg=listening addr="+ln.Addr().String()) {
		t.Errorf("log %q does not show the listen address", buf.String())
	}
}
