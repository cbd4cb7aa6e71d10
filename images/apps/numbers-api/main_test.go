package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/images/apps/internal/labhttp"
)

// noSleep stands in for sleep in tests that do not set a delay.
func noSleep(context.Context, time.Duration) error { return nil }

func testConfig() config { return config{addr: ":80", failAfter: -1} }

// get serves one request through the full handler chain and returns the recorder
// and the log line.
func get(t *testing.T, a *api, path string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	var logs bytes.Buffer
	h := labhttp.Handler(slog.New(slog.NewTextHandler(&logs, nil)), "numbers-api-x1", a.routes())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec, logs.String()
}

func TestRNGReturnsNumbersFrom1To100(t *testing.T) {
	a := newAPI(testConfig(), rand.NewPCG(1, 2), noSleep)
	seen := map[int]bool{}
	for i := range 2000 {
		rec, logLine := get(t, a, "/rng")
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.HasSuffix(body, "\n") {
			t.Fatalf("call %d: GET /rng = %d %q; want 200 and a trailing newline", i, rec.Code, body)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(body, "\n"))
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("call %d: GET /rng body %q; want an integer in 1..100", i, body)
		}
		if !strings.Contains(logLine, "path=/rng") || !strings.Contains(logLine, "status=200") || !strings.Contains(logLine, "number="+strconv.Itoa(n)) {
			t.Fatalf("call %d: log line %q lacks path, status or number", i, logLine)
		}
		if got := rec.Header().Get("X-Served-By"); got != "numbers-api-x1" {
			t.Fatalf("X-Served-By = %q; want %q", got, "numbers-api-x1")
		}
		seen[n] = true
	}
	if !seen[1] || !seen[100] {
		t.Errorf("2000 draws never produced 1 or 100 (seen 1: %v, seen 100: %v)", seen[1], seen[100])
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name      string
		failAfter int
		failRate  float64
		calls     int
		wantRNG   []int // status of each /rng call; the last repeats
		wantStale int   // /healthz status after the calls
	}{
		{name: "no faults", failAfter: -1, calls: 5, wantRNG: []int{200}, wantStale: 200},
		{name: "fail after 3", failAfter: 3, calls: 6, wantRNG: []int{200, 200, 200, 500}, wantStale: 500},
		{name: "fail after 0", failAfter: 0, calls: 2, wantRNG: []int{500}, wantStale: 500},
		{name: "fail rate 1", failAfter: -1, failRate: 1, calls: 3, wantRNG: []int{500}, wantStale: 200},
		{name: "fail after 1 does not count random failures", failAfter: 1, failRate: 1, calls: 2, wantRNG: []int{500}, wantStale: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.failAfter, cfg.failRate = tt.failAfter, tt.failRate
			a := newAPI(cfg, rand.NewPCG(3, 4), noSleep)
			for i := range tt.calls {
				want := tt.wantRNG[min(i, len(tt.wantRNG)-1)]
				rec, logLine := get(t, a, "/rng")
				if rec.Code != want {
					t.Fatalf("call %d: GET /rng = %d; want %d", i+1, rec.Code, want)
				}
				if want == 500 {
					if got := rec.Body.String(); got != "RNG service failed\n" {
						t.Errorf("call %d: body = %q; want %q", i+1, got, "RNG service failed\n")
					}
					if !strings.Contains(logLine, "status=500") || !strings.Contains(logLine, "fault=") {
						t.Errorf("call %d: log line %q lacks status=500 or fault", i+1, logLine)
					}
				}
			}
			if rec, _ := get(t, a, "/healthz"); rec.Code != tt.wantStale {
				t.Errorf("GET /healthz after %d calls = %d; want %d", tt.calls, rec.Code, tt.wantStale)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	tests := []struct {
		name       string
		delay      time.Duration
		sleepErr   error
		wantSleeps []time.Duration
		wantStatus int
		wantBody   bool
	}{
		{name: "no delay", delay: 0, wantSleeps: nil, wantStatus: 200, wantBody: true},
		{name: "delay", delay: 25 * time.Millisecond, wantSleeps: []time.Duration{25 * time.Millisecond}, wantStatus: 200, wantBody: true},
		{name: "client gone", delay: time.Second, sleepErr: context.Canceled, wantSleeps: []time.Duration{time.Second}, wantStatus: 200, wantBody: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var slept []time.Duration
			fake := func(_ context.Context, d time.Duration) error {
				slept = append(slept, d)
				return tt.sleepErr
			}
			cfg := testConfig()
			cfg.delay = tt.delay
			rec, _ := get(t, newAPI(cfg, rand.NewPCG(5, 6), fake), "/rng")
			if len(slept) != len(tt.wantSleeps) || (len(slept) > 0 && slept[0] != tt.wantSleeps[0]) {
				t.Errorf("slept %v; want %v", slept, tt.wantSleeps)
			}
			if rec.Code != tt.wantStatus || (rec.Body.Len() > 0) != tt.wantBody {
				t.Errorf("GET /rng = %d %q; want %d, body %v", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestSleepStopsWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep(canceled, 1h) = %v; want context.Canceled", err)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", env: nil, want: config{addr: ":80", failAfter: -1}},
		{
			name: "all set",
			env:  map[string]string{"PORT": "8080", "NUMBERS_DELAY": "1500ms", "NUMBERS_FAIL_AFTER": "10", "NUMBERS_FAIL_RATE": "0.25"},
			want: config{addr: ":8080", delay: 1500 * time.Millisecond, failAfter: 10, failRate: 0.25},
		},
		{name: "fail after zero", env: map[string]string{"NUMBERS_FAIL_AFTER": "0"}, want: config{addr: ":80", failAfter: 0}},
		{name: "bad port", env: map[string]string{"PORT": "-1"}, wantErr: `PORT="-1" is outside 1-65535`},
		{name: "bad delay", env: map[string]string{"NUMBERS_DELAY": "5"}, wantErr: `NUMBERS_DELAY="5" is not a Go duration`},
		{name: "negative delay", env: map[string]string{"NUMBERS_DELAY": "-1s"}, wantErr: `NUMBERS_DELAY="-1s" is outside`},
		{name: "huge delay", env: map[string]string{"NUMBERS_DELAY": "1h"}, wantErr: `NUMBERS_DELAY="1h" is outside`},
		{name: "bad fail after", env: map[string]string{"NUMBERS_FAIL_AFTER": "three"}, wantErr: `NUMBERS_FAIL_AFTER="three" is not a whole number`},
		{name: "negative fail after", env: map[string]string{"NUMBERS_FAIL_AFTER": "-2"}, wantErr: `NUMBERS_FAIL_AFTER="-2" is negative`},
		{name: "bad fail rate", env: map[string]string{"NUMBERS_FAIL_RATE": "half"}, wantErr: `NUMBERS_FAIL_RATE="half" is not a number`},
		{name: "fail rate too big", env: map[string]string{"NUMBERS_FAIL_RATE": "1.5"}, wantErr: `NUMBERS_FAIL_RATE="1.5" is outside 0-1`},
		{name: "fail rate NaN", env: map[string]string{"NUMBERS_FAIL_RATE": "NaN"}, wantErr: `NUMBERS_FAIL_RATE="NaN" is outside 0-1`},
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
