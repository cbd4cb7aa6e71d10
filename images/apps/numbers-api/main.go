// Command numbers-api is the backend of kindlab's "numbers" labs: GET /rng answers a
// random integer from 1 to 100 as plain text with a trailing newline. Faults can be
// injected from the environment so labs can show slow and unhealthy backends.
//
// GET /healthz answers 200 "ok", or 500 once NUMBERS_FAIL_AFTER has been reached. Every
// request is logged to stdout as one line, and the X-Served-By response header carries
// the pod's hostname.
//
// Environment:
//
//	PORT                TCP port to listen on (default 80)
//	NUMBERS_DELAY       Go duration added to every /rng call, e.g. 2s (default 0)
//	NUMBERS_FAIL_AFTER  after this many successful /rng calls, every /rng and /healthz
//	                    answers 500 "RNG service failed"; 0 fails from the start
//	                    (default unset: never)
//	NUMBERS_FAIL_RATE   probability from 0 to 1 that a /rng call answers 500 (default 0)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kindlab/kindlab/images/apps/internal/labhttp"
)

// maxDelay keeps NUMBERS_DELAY under the server's WriteTimeout.
const maxDelay = time.Minute

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if err := run(logger, os.Getenv); err != nil {
		logger.Error("numbers-api failed", slog.Any("error", err))
		os.Exit(1)
	}
}

type config struct {
	addr      string
	delay     time.Duration
	failAfter int     // successful /rng calls before failing for good; negative: never
	failRate  float64 // probability in [0, 1] that a /rng call fails
}

// parseConfig reads the configuration from the environment.
func parseConfig(getenv func(string) string) (config, error) {
	addr, err := labhttp.ListenAddr(getenv)
	if err != nil {
		return config{}, fmt.Errorf("config: %w", err)
	}
	cfg := config{addr: addr, failAfter: -1}
	if v := strings.TrimSpace(getenv("NUMBERS_DELAY")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return config{}, fmt.Errorf("config: NUMBERS_DELAY=%q is not a Go duration such as 500ms: %w", v, err)
		}
		if d < 0 || d > maxDelay {
			return config{}, fmt.Errorf("config: NUMBERS_DELAY=%q is outside 0-%s", v, maxDelay)
		}
		cfg.delay = d
	}
	if v := strings.TrimSpace(getenv("NUMBERS_FAIL_AFTER")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return config{}, fmt.Errorf("config: NUMBERS_FAIL_AFTER=%q is not a whole number: %w", v, err)
		}
		if n < 0 {
			return config{}, fmt.Errorf("config: NUMBERS_FAIL_AFTER=%q is negative", v)
		}
		cfg.failAfter = n
	}
	if v := strings.TrimSpace(getenv("NUMBERS_FAIL_RATE")); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return config{}, fmt.Errorf("config: NUMBERS_FAIL_RATE=%q is not a number: %w", v, err)
		}
		if !(p >= 0 && p <= 1) { // also rejects NaN
			return config{}, fmt.Errorf("config: NUMBERS_FAIL_RATE=%q is outside 0-1", v)
		}
		cfg.failRate = p
	}
	return cfg, nil
}

func run(logger *slog.Logger, getenv func(string) string) error {
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	host := labhttp.Hostname()
	logger.Info("starting numbers-api", slog.String("addr", cfg.addr), slog.String("hostname", host),
		slog.Duration("delay", cfg.delay), slog.Int("fail_after", cfg.failAfter), slog.Float64("fail_rate", cfg.failRate))
	a := newAPI(cfg, rand.NewPCG(rand.Uint64(), rand.Uint64()), sleep)
	return labhttp.Run(ctx, logger, cfg.addr, labhttp.Handler(logger, host, a.routes()))
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// api serves /rng and /healthz with the configured faults.
type api struct {
	cfg   config
	sleep func(ctx context.Context, d time.Duration) error

	mu        sync.Mutex
	rng       *rand.Rand
	successes int
}

func newAPI(cfg config, src rand.Source, sleep func(context.Context, time.Duration) error) *api {
	return &api{cfg: cfg, sleep: sleep, rng: rand.New(src)}
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rng", a.handleRNG)
	mux.HandleFunc("GET /healthz", a.handleHealthz)
	return mux
}

// next draws the outcome of one /rng call: a number in 1..100, or the name of the
// injected fault that makes this call fail.
func (a *api) next() (n int, fault string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failedLocked() {
		return 0, "fail-after"
	}
	if a.cfg.failRate > 0 && a.rng.Float64() < a.cfg.failRate {
		return 0, "fail-rate"
	}
	a.successes++
	return a.rng.IntN(100) + 1, ""
}

func (a *api) failed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failedLocked()
}

func (a *api) failedLocked() bool {
	return a.cfg.failAfter >= 0 && a.successes >= a.cfg.failAfter
}

func (a *api) handleRNG(w http.ResponseWriter, r *http.Request) {
	if a.cfg.delay > 0 {
		if err := a.sleep(r.Context(), a.cfg.delay); err != nil {
			labhttp.AddAttrs(r.Context(), slog.String("outcome", "client gone during delay"))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	n, fault := a.next()
	if fault != "" {
		labhttp.AddAttrs(r.Context(), slog.String("fault", fault))
		http.Error(w, "RNG service failed", http.StatusInternalServerError)
		return
	}
	labhttp.AddAttrs(r.Context(), slog.Int("number", n))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintf(w, "%d\n", n)
}

func (a *api) handleHealthz(w http.ResponseWriter, r *http.Request) {
	if a.failed() {
		http.Error(w, "RNG service failed", http.StatusInternalServerError)
		return
	}
	labhttp.OK(w, r)
}
