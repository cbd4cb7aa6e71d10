package main

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/images/apps/internal/labhttp"
)

// closedURL returns an http URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/rng"
}

// fakeAPI starts a stand-in for numbers-api on 127.0.0.1 and returns its /rng URL.
func fakeAPI(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/rng"
}

func TestIndex(t *testing.T) {
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		timeout  time.Duration
		wantBody []string
		notBody  []string
		wantLog  []string
	}{
		{
			name: "number",
			url: func(t *testing.T) string {
				return fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Served-By", "numbers-api-7")
					_, _ = w.Write([]byte("42\n"))
				})
			},
			wantBody: []string{"Here's your random number: 42", "answered by numbers-api-7"},
			notBody:  []string{"RNG service unavailable!"},
			wantLog:  []string{"api_result=ok", "number=42", "api_served_by=numbers-api-7"},
		},
		{
			name:     "api down",
			url:      closedURL,
			wantBody: []string{"RNG service unavailable!", "connection refused"},
			notBody:  []string{"random number:"},
			wantLog:  []string{"api_result=unavailable", "api_error=", "connection refused"},
		},
		{
			name: "api fails",
			url: func(t *testing.T) string {
				return fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "RNG service failed", http.StatusInternalServerError)
				})
			},
			wantBody: []string{"RNG service unavailable!", "500 Internal Server Error", "RNG service failed"},
			wantLog:  []string{"api_result=unavailable"},
		},
		{
			name: "api answers nonsense",
			url: func(t *testing.T) string {
				return fakeAPI(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) })
			},
			wantBody: []string{"RNG service unavailable!", "not a number"},
			wantLog:  []string{"api_result=unavailable"},
		},
		{
			name: "api too slow",
			url: func(t *testing.T) string {
				return fakeAPI(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			},
			timeout:  50 * time.Millisecond,
			wantBody: []string{"RNG service unavailable!", "Client.Timeout exceeded"},
			wantLog:  []string{"api_result=unavailable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url(t)
			cfg := config{addr: ":80", serviceURL: u, timeout: 3 * time.Second}
			if tt.timeout > 0 {
				cfg.timeout = tt.timeout
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			h := labhttp.Handler(logger, "numbers-web-q9", newWeb(logger, cfg, "numbers-web-q9").routes())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))

			if rec.Code != http.StatusOK {
				t.Errorf("GET / status = %d; want 200 whatever the API did", rec.Code)
			}
			body := rec.Body.String()
			want := append([]string{"(Using API at: " + u, "served by numbers-web-q9"}, tt.wantBody...)
			if strings.Contains(tt.wantBody[0], "unavailable") {
				want = append(want, "(Using API at: "+u+")")
			}
			for _, s := range want {
				if !strings.Contains(body, s) {
					t.Errorf("body does not contain %q:\n%s", s, body)
				}
			}
			for _, s := range tt.notBody {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q; want it absent", s)
				}
			}
			line := logs.String()
			if n := strings.Count(line, "\n"); n != 1 {
				t.Fatalf("logged %d lines; want 1:\n%s", n, line)
			}
			for _, s := range append([]string{"path=/ ", "status=200", "api_url=" + u, "api_duration="}, tt.wantLog...) {
				if !strings.Contains(line, s) {
					t.Errorf("log line %q does not contain %q", line, s)
				}
			}
		})
	}
}

func TestHealthzIgnoresAPI(t *testing.T) {
	cfg := config{addr: ":80", serviceURL: closedURL(t), timeout: time.Second}
	logger := slog.New(slog.DiscardHandler)
	rec := httptest.NewRecorder()
	newWeb(logger, cfg, "w").routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Fatalf("GET /healthz = %d %q; want 200 %q", rec.Code, rec.Body, "ok\n")
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{addr: ":80", serviceURL: "http://numbers-api/rng", timeout: 3 * time.Second}},
		{
			name: "all set",
			env:  map[string]string{"PORT": "8081", "RNG_SERVICE_URL": "http://numbers-api.lab.svc:8080/rng", "RNG_TIMEOUT": "500ms"},
			want: config{addr: ":8081", serviceURL: "http://numbers-api.lab.svc:8080/rng", timeout: 500 * time.Millisecond},
		},
		{name: "bad port", env: map[string]string{"PORT": "80a"}, wantErr: `PORT="80a" is not a port number`},
		{name: "url without scheme", env: map[string]string{"RNG_SERVICE_URL": "numbers-api/rng"}, wantErr: `RNG_SERVICE_URL="numbers-api/rng" is not an http:// or https:// URL`},
		{name: "unparsable url", env: map[string]string{"RNG_SERVICE_URL": "http://[::1"}, wantErr: `RNG_SERVICE_URL="http://[::1"`},
		{name: "bad timeout", env: map[string]string{"RNG_TIMEOUT": "3"}, wantErr: `RNG_TIMEOUT="3" is not a Go duration`},
		{name: "zero timeout", env: map[string]string{"RNG_TIMEOUT": "0s"}, wantErr: `RNG_TIMEOUT="0s" must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig(%v) error = %v; want it to contain %q", tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseConfig(%v) = %+v, %v; want %+v, nil", tt.env, got, err, tt.want)
			}
		})
	}
}
