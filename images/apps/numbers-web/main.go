// Command numbers-web is the frontend of kindlab's "numbers" labs: GET / calls the
// numbers-api /rng endpoint and renders "Here's your random number: N". When the API
// cannot be reached or answers non-2xx, the page (still HTTP 200, so the learner sees
// it) says "RNG service unavailable!", which API URL it used, and why, so learners can
// debug Services and DNS from the browser.
//
// GET /healthz answers 200 "ok" whatever the API's state, so a broken backend does not
// take the frontend out of its Service. Every request is logged to stdout as one line
// including the outcome of the API call, and the X-Served-By response header carries
// the pod's hostname.
//
// Environment:
//
//	PORT             TCP port to listen on (default 80)
//	RNG_SERVICE_URL  URL of the API (default http://numbers-api/rng)
//	RNG_TIMEOUT      Go duration, timeout of the whole API call (default 3s)
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kindlab/kindlab/images/apps/internal/labhttp"
)

//go:embed page.html
var pageHTML string

const (
	defaultServiceURL = "http://numbers-api/rng"
	defaultTimeout    = 3 * time.Second
	maxAPIBody        = 512
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if err := run(logger, os.Getenv); err != nil {
		logger.Error("numbers-web failed", slog.Any("error", err))
		os.Exit(1)
	}
}

type config struct {
	addr       string
	serviceURL string
	timeout    time.Duration
}

// parseConfig reads the configuration from the environment.
func parseConfig(getenv func(string) string) (config, error) {
	addr, err := labhttp.ListenAddr(getenv)
	if err != nil {
		return config{}, fmt.Errorf("config: %w", err)
	}
	cfg := config{addr: addr, serviceURL: defaultServiceURL, timeout: defaultTimeout}
	if v := strings.TrimSpace(getenv("RNG_SERVICE_URL")); v != "" {
		u, err := url.Parse(v)
		if err != nil {
			return config{}, fmt.Errorf("config: RNG_SERVICE_URL=%q: %w", v, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return config{}, fmt.Errorf("config: RNG_SERVICE_URL=%q is not an http:// or https:// URL with a host", v)
		}
		cfg.serviceURL = v
	}
	if v := strings.TrimSpace(getenv("RNG_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return config{}, fmt.Errorf("config: RNG_TIMEOUT=%q is not a Go duration such as 3s: %w", v, err)
		}
		if d <= 0 {
			return config{}, fmt.Errorf("config: RNG_TIMEOUT=%q must be positive", v)
		}
		cfg.timeout = d
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
	logger.Info("starting numbers-web", slog.String("addr", cfg.addr), slog.String("hostname", host),
		slog.String("rng_service_url", cfg.serviceURL), slog.Duration("rng_timeout", cfg.timeout))
	return labhttp.Run(ctx, logger, cfg.addr, labhttp.Handler(logger, host, newWeb(logger, cfg, host).routes()))
}

// web serves the page that shows a number from the API.
type web struct {
	logger   *slog.Logger
	url      string
	client   *http.Client
	hostname string
	page     *template.Template
}

func newWeb(logger *slog.Logger, cfg config, hostname string) *web {
	// A new connection per call: kube-proxy balances connections, not requests, so
	// keep-alives would pin this pod to one API pod and hide load balancing. It also
	// means every call resolves the Service name again.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &web{
		logger:   logger,
		url:      cfg.serviceURL,
		client:   &http.Client{Timeout: cfg.timeout, Transport: tr},
		hostname: hostname,
		page:     template.Must(template.New("page").Parse(pageHTML)),
	}
}

// pageView is what page.html renders.
type pageView struct {
	Number   int
	Backend  string // X-Served-By of the API pod, if it sent one
	Err      error
	URL      string
	Hostname string
}

func (s *web) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /healthz", labhttp.OK)
	return mux
}

func (s *web) index(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	n, backend, err := s.fetch(r.Context())
	attrs := []slog.Attr{slog.String("api_url", s.url), slog.Duration("api_duration", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("api_result", "unavailable"), slog.Any("api_error", err))
	} else {
		attrs = append(attrs, slog.String("api_result", "ok"), slog.Int("number", n), slog.String("api_served_by", backend))
	}
	labhttp.AddAttrs(r.Context(), attrs...)

	// The page shows err's text on purpose: the reason ("no such host", "connection
	// refused") is what the learner is here to debug, and it holds nothing secret.
	var buf bytes.Buffer
	v := pageView{Number: n, Backend: backend, Err: err, URL: s.url, Hostname: s.hostname}
	if err := s.page.Execute(&buf, v); err != nil {
		s.logger.ErrorContext(r.Context(), "render page", slog.Any("error", err))
		http.Error(w, "Something went wrong.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

// fetch calls the API once and returns its number and the X-Served-By of the pod
// that answered.
func (s *web) fetch(ctx context.Context) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return 0, "", fmt.Errorf("build request: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error repeats the method and URL, which the page already shows.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	backend := resp.Header.Get("X-Served-By")
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return 0, backend, fmt.Errorf("read API answer: %w", err)
	}
	text := strings.TrimSpace(string(body))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, backend, fmt.Errorf("API answered %s: %.100q", resp.Status, text)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, backend, fmt.Errorf("API answered %.100q, not a number: %w", text, err)
	}
	return n, backend, nil
}
