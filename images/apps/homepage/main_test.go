package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/kindlab/kindlab/images/apps/internal/labhttp"
)

func TestHomepage(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		path       string
		form       url.Values
		wantStatus int
		wantBody   []string
		notBody    []string
		wantLog    []string
	}{
		{
			name: "index", method: http.MethodGet, path: "/",
			wantStatus: http.StatusOK,
			wantBody:   []string{"Sign up for the kindlab newsletter", `action="/signup"`, "served by homepage-abc12"},
			wantLog:    []string{"path=/ ", "status=200"},
		},
		{
			name: "signup", method: http.MethodPost, path: "/signup",
			form:       url.Values{"name": {"Ada"}, "email": {"ada@example.com"}},
			wantStatus: http.StatusOK,
			wantBody:   []string{`data-testid="thanks"`, "Thanks, Ada!", "ada@example.com", "served by homepage-abc12"},
			notBody:    []string{"<form"},
			wantLog:    []string{"method=POST", "path=/signup", "status=200", "signup=accepted"},
		},
		{
			name: "signup escapes input", method: http.MethodPost, path: "/signup",
			form:       url.Values{"name": {"<script>x</script>"}, "email": {"a@example.com"}},
			wantStatus: http.StatusOK,
			wantBody:   []string{"&lt;script&gt;x&lt;/script&gt;"},
			notBody:    []string{"<script>"},
		},
		{
			name: "signup without email", method: http.MethodPost, path: "/signup",
			form:       url.Values{"name": {"Ada"}},
			wantStatus: http.StatusBadRequest,
			wantBody:   []string{`data-testid="error"`, "Please enter your email address.", `value="Ada"`},
			wantLog:    []string{"path=/signup", "status=400", "signup=rejected"},
		},
		{
			name: "signup with bad email", method: http.MethodPost, path: "/signup",
			form:       url.Values{"email": {"not-an-email"}},
			wantStatus: http.StatusBadRequest,
			wantBody:   []string{"That does not look like an email address."},
		},
		{
			name: "healthz", method: http.MethodGet, path: "/healthz",
			wantStatus: http.StatusOK,
			wantBody:   []string{"ok"},
			wantLog:    []string{"path=/healthz", "status=200"},
		},
		{
			name: "unknown path", method: http.MethodGet, path: "/nope",
			wantStatus: http.StatusNotFound,
			wantLog:    []string{"path=/nope", "status=404"},
		},
		{
			name: "get signup", method: http.MethodGet, path: "/signup",
			wantStatus: http.StatusMethodNotAllowed,
			wantLog:    []string{"status=405"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			h := labhttp.Handler(logger, "homepage-abc12", newSite(logger, "homepage-abc12").routes())

			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.form.Encode()))
			if tt.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.Header.Set("User-Agent", "lab-test/1.0")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("%s %s status = %d; want %d", tt.method, tt.path, rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("X-Served-By"); got != "homepage-abc12" {
				t.Errorf("X-Served-By = %q; want %q", got, "homepage-abc12")
			}
			body := rec.Body.String()
			for _, s := range tt.wantBody {
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
			for _, s := range append([]string{"msg=request", "method=" + tt.method, "user_agent=lab-test/1.0", "remote=", "duration="}, tt.wantLog...) {
				if !strings.Contains(line, s) {
					t.Errorf("log line %q does not contain %q", line, s)
				}
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantAddr string
		wantErr  string
	}{
		{name: "defaults", env: map[string]string{}, wantAddr: ":80"},
		{name: "port", env: map[string]string{"PORT": "8080"}, wantAddr: ":8080"},
		{name: "bad port", env: map[string]string{"PORT": "eighty"}, wantErr: `PORT="eighty" is not a port number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig(%v) error = %v; want it to contain %q", tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.addr != tt.wantAddr {
				t.Fatalf("parseConfig(%v) = %+v, %v; want addr %q", tt.env, cfg, err, tt.wantAddr)
			}
		})
	}
}
