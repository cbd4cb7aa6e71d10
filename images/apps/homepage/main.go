// Command homepage is the "signup" homepage of kindlab's networking labs: a one-page
// "Sign up for the kindlab newsletter" site for a fictional workshop. The form POSTs to
// /signup, which answers with a thank-you page and stores nothing.
//
// Every request is logged to stdout as one line (method, path, remote address, user
// agent, status, duration) so learners can follow traffic with
// `kubectl logs --selector app=signup,component=homepage`. The page footer and the
// X-Served-By response header carry the pod's hostname, which makes load balancing
// across replicas visible. GET /healthz answers 200 "ok".
//
// Environment:
//
//	PORT  TCP port to listen on (default 80)
package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/kindlab/kindlab/images/apps/internal/labhttp"
)

//go:embed page.html
var pageHTML string

const (
	maxFormBytes = 8 << 10
	maxNameRunes = 100
	maxEmailLen  = 254
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if err := run(logger, os.Getenv); err != nil {
		logger.Error("homepage failed", slog.Any("error", err))
		os.Exit(1)
	}
}

type config struct {
	addr string
}

// parseConfig reads the configuration from the environment.
func parseConfig(getenv func(string) string) (config, error) {
	addr, err := labhttp.ListenAddr(getenv)
	if err != nil {
		return config{}, fmt.Errorf("config: %w", err)
	}
	return config{addr: addr}, nil
}

func run(logger *slog.Logger, getenv func(string) string) error {
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	host := labhttp.Hostname()
	logger.Info("starting homepage", slog.String("addr", cfg.addr), slog.String("hostname", host))
	return labhttp.Run(ctx, logger, cfg.addr, labhttp.Handler(logger, host, newSite(logger, host).routes()))
}

// site serves the homepage and the signup form.
type site struct {
	logger   *slog.Logger
	hostname string
	page     *template.Template
}

func newSite(logger *slog.Logger, hostname string) *site {
	return &site{
		logger:   logger,
		hostname: hostname,
		page:     template.Must(template.New("page").Parse(pageHTML)),
	}
}

// pageView is what page.html renders.
type pageView struct {
	Hostname string
	Thanks   bool
	Name     string
	Email    string
	Error    string
}

func (s *site) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("POST /signup", s.signup)
	mux.HandleFunc("GET /healthz", labhttp.OK)
	return mux
}

func (s *site) index(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, pageView{})
}

func (s *site) signup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		labhttp.AddAttrs(r.Context(), slog.String("signup", "bad form"), slog.Any("error", err))
		s.render(w, r, http.StatusBadRequest, pageView{Error: "That form did not arrive intact. Please try again."})
		return
	}
	v := pageView{
		Name:  strings.TrimSpace(r.PostForm.Get("name")),
		Email: strings.TrimSpace(r.PostForm.Get("email")),
	}
	if msg := validate(v.Name, v.Email); msg != "" {
		labhttp.AddAttrs(r.Context(), slog.String("signup", "rejected"))
		v.Error = msg
		s.render(w, r, http.StatusBadRequest, v)
		return
	}
	// Nothing is stored, and the address is not logged: this is a lab app.
	labhttp.AddAttrs(r.Context(), slog.String("signup", "accepted"))
	v.Thanks = true
	s.render(w, r, http.StatusOK, v)
}

// validate returns a message for the learner, or "" when name and email are fine.
func validate(name, email string) string {
	switch {
	case utf8.RuneCountInString(name) > maxNameRunes:
		return fmt.Sprintf("Please keep your name under %d characters.", maxNameRunes)
	case email == "":
		return "Please enter your email address."
	case len(email) > maxEmailLen:
		return "That email address is too long."
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return "That does not look like an email address."
	}
	return ""
}

// render writes the page, rendered into a buffer first so a template error becomes a
// clean 500 rather than half a page.
func (s *site) render(w http.ResponseWriter, r *http.Request, status int, v pageView) {
	v.Hostname = s.hostname
	var buf bytes.Buffer
	if err := s.page.Execute(&buf, v); err != nil {
		s.logger.ErrorContext(r.Context(), "render page", slog.Any("error", err))
		http.Error(w, "Something went wrong.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // every reload reaches a pod, showing load balancing
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
