// Package server is kindlab's HTTP layer: it translates requests into calls on
// the learners' sessions (package session) and the workshops (package workshop),
// and renders the answers (package web). Its rooms:
//
//   - server.go: the Server, its routes and the session check of every learner URL;
//   - learner.go: the catalog, starting a lab, the lab page, step changes, reset,
//     completion and the learner's Server-Sent Events;
//   - app.go: app links, proxied into the learner's cluster and sandboxed;
//   - instructor.go: instructor sign-in, workshops, joining, instructor actions;
//   - dashboard.go: the live dashboard (progress grids and the websocket);
//   - guard.go and cookies.go: Host allow-list, trusted proxies, per-client limits,
//     cookies and CSRF.
//
// Learners are identified by a random token in an HttpOnly cookie scoped to their
// session's path; every page, stream and websocket of a session checks it.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/server/workshop"
	"github.com/kindlab/kindlab/static"
	"github.com/kindlab/kindlab/web"
)

// Pool is what the server shows of the warm pool (on the start page, the
// dashboard and /metrics).
type Pool interface {
	Stats() cluster.PoolStats
}

// Config holds a Server's dependencies and settings.
type Config struct {
	Catalog *labs.Catalog
	Store   *store.Store
	// Sessions runs the learners' sessions (session.New); Board holds the
	// instructors' workshops (workshop.NewBoard) and hears the sessions'
	// events (session.Config.OnEvent). The server serves them over HTTP.
	Sessions *session.Manager
	Board    *workshop.Board
	Pool     Pool
	Logger   *slog.Logger
	Clock    clock.Clock
	// FreeMemory tells the memory free where learner clusters run, in MiB,
	// for the instructor's dashboard (cluster.Backend's FreeMemoryMiB); nil,
	// or false: not known, and the dashboard says so.
	FreeMemory func() (mib int, ok bool)
	// SecureCookies marks every cookie Secure (kindlab is only reached over HTTPS).
	// Without it, cookies are Secure when the request came over TLS, directly or
	// through a trusted proxy that says so in X-Forwarded-Proto.
	SecureCookies bool
	// TrustedProxies are the addresses whose X-Forwarded-For and -Proto are believed.
	TrustedProxies []netip.Prefix
	// Hosts are the Host names served (AllowedHosts); empty serves any.
	Hosts []string
	// Limits bound what one client may start, reset and try.
	Limits Limits
	// InstructorToken signs instructors in (to create workshops); empty disables it.
	InstructorToken string
	// TerminalWait is how long a terminal that connects before the learner's
	// cluster is ready (a page reconnecting to a replica that is taking its
	// session over) waits for it before the browser is told to try again
	// (default 10s).
	TerminalWait time.Duration
}

// Server serves kindlab. Build it with New, serve Handler, stop with Close.
type Server struct {
	Config
	ctx      context.Context
	cancel   context.CancelFunc
	metrics  *metrics
	terminal *terminal.Handler
	sessions *session.Manager
	board    *workshop.Board
	replica  string          // this process's name among the replicas sharing the store
	shared   bool            // replicas share the store: requests go to the one running the session
	starts   *limiters       // lab starts and resets, per client
	streams  *openStreams    // live connections, per session and per client
	logins   *limiters       // instructor sign-in attempts, per client
	peers    *http.Transport // requests passed to other replicas (shared)
}

// New builds a server over its sessions and workshops; Close ends the live
// connections it serves.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil || cfg.Store == nil || cfg.Sessions == nil || cfg.Board == nil || cfg.Pool == nil {
		return nil, errors.New("server: catalog, store, sessions, board and pool are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.TerminalWait == 0 {
		cfg.TerminalWait = 10 * time.Second
	}
	cfg.Limits.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		Config: cfg, ctx: ctx, cancel: cancel, metrics: &metrics{}, sessions: cfg.Sessions, board: cfg.Board,
		starts:  newLimiters(cfg.Limits.Starts, cfg.Limits.StartBurst),
		logins:  newLimiters(cfg.Limits.Logins, cfg.Limits.LoginBurst),
		streams: newOpenStreams(cfg.Limits.StreamsPerSession, cfg.Limits.StreamsPerClient),
	}
	s.replica, s.shared = cfg.Sessions.Replica()
	s.terminal = &terminal.Handler{Authorize: s.authorizeTerminal, Logger: cfg.Logger}
	if s.shared {
		s.peers = peerTransport()
	}
	return s, nil
}

// Close ends the dashboards' live connections.
func (s *Server) Close() { s.cancel() }

// Handler is the whole route tree.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.frontDoor, middleware.RequestID, s.logRequests, middleware.Recoverer)
	r.Get("/healthz", s.healthz)
	r.Get("/metrics", s.serveMetrics)
	r.Handle("/static/*", http.StripPrefix("/static/", static.Handler()))
	r.Get("/", s.catalog)
	r.Post("/labs/{lab}/start", s.start)
	r.Route("/s/{sid}", func(r chi.Router) {
		r.Use(s.atOwner, s.loadLearner)
		r.Get("/", s.labPage)
		r.Post("/step", s.step)
		r.With(s.capStreams).Get("/events", s.events)
		r.With(s.capStreams).Get("/terminal", s.terminal.ServeHTTP)
		r.Post("/reset", s.reset)
		r.Get("/complete", s.complete)
		r.Post("/end", s.end)
		r.Handle("/apps/{service}/*", http.HandlerFunc(s.app))
		r.Handle("/apps/{service}", http.HandlerFunc(s.app))
	})
	r.Get("/instructor", s.instructorHome)
	r.Post("/instructor/login", s.instructorLogin)
	r.Post("/instructor/logout", s.instructorLogout)
	r.Post("/instructor/workshops", s.createWorkshop)
	r.Get("/join/{code}", s.joinPage)
	r.Post("/join/{code}", s.join)
	r.Route("/w/{wid}", func(r chi.Router) {
		r.Use(s.loadWorkshop)
		r.Get("/", s.dashboard)
		r.With(s.capStreams).Get("/live", s.dashboardLive)
		r.Post("/broadcast", s.broadcast)
		r.Get("/export.{format}", s.export)
		r.With(s.atOwner).Post("/learners/{sid}/{action}", s.learnerAction)
		r.With(s.atOwner).Get("/watch/{sid}", s.watch)
		r.With(s.atOwner, s.capStreams).Handle("/watch/{sid}/terminal", s.watchTerminal())
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { s.errorPage(w, r, http.StatusNotFound, nil) })
	return r
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.Clock.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		s.metrics.requests.Add(1)
		s.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", ww.Status(), "took", time.Since(start))
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, "ok")
}

type ctxKey struct{}

// loadLearner finds the session of the URL and checks the browser holds its token.
func (s *Server) loadLearner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l, err := s.learnerFor(r)
		if err != nil {
			status := http.StatusNotFound
			if errors.Is(err, errForbidden) {
				status = http.StatusForbidden
			}
			s.errorPage(w, r, status, publicError{"This lab session is not yours, or it has ended. Start the lab again from the catalog."})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, l)))
	})
}

var errForbidden = errors.New("server: not this browser's session")

func (s *Server) learnerFor(r *http.Request) (*session.Learner, error) {
	sid := chi.URLParam(r, "sid")
	l, ok := s.sessions.Get(sid)
	if !ok {
		return nil, store.ErrNotFound
	}
	c, err := r.Cookie(sessionCookie(sid))
	if err != nil {
		return nil, errForbidden
	}
	if subtle.ConstantTimeCompare([]byte(session.HashToken(c.Value)), []byte(l.Session().TokenHash)) != 1 {
		return nil, errForbidden
	}
	return l, nil
}

func learnerOf(r *http.Request) *session.Learner {
	return r.Context().Value(ctxKey{}).(*session.Learner)
}

// authorizeTerminal admits a websocket that carries the session cookie and the
// page's terminal token.
func (s *Server) authorizeTerminal(r *http.Request, hello terminal.Hello) (*terminal.Session, bool, error) {
	l, err := s.learnerFor(r)
	if err != nil {
		return nil, false, err
	}
	if subtle.ConstantTimeCompare([]byte(hello.Token), []byte(l.Session().TermToken)) != 1 {
		return nil, false, errors.New("wrong terminal token")
	}
	l.Active()
	t, err := s.learnerTerminal(r.Context(), l)
	return t, false, err
}

// learnerTerminal returns l's terminal, waiting up to TerminalWait for l's
// cluster to be ready and its shell to start. When they are not, the error
// wraps terminal.ErrUnavailable: the browser reconnects rather than gives up.
func (s *Server) learnerTerminal(ctx context.Context, l *session.Learner) (*terminal.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.TerminalWait)
	defer cancel()
	retry := time.NewTicker(200 * time.Millisecond)
	defer retry.Stop()
	for {
		t, err := l.Terminal()
		if err == nil {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", terminal.ErrUnavailable, err)
		case <-retry.C:
		}
	}
}

// render writes a page; errorPage writes the error page for status, logging
// server errors.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.Logger.Error("render", "path", r.URL.Path, "error", err)
	}
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, err error) {
	if err != nil && status >= 500 {
		s.Logger.Error("request failed", "path", r.URL.Path, "error", err)
	}
	s.render(w, r, status, web.ErrorPage(web.NewErrorView(status, err, middleware.GetReqID(r.Context()))))
}

// publicError is an error whose message is written for learners.
type publicError struct{ msg string }

func (e publicError) Error() string         { return e.msg }
func (e publicError) PublicMessage() string { return e.msg }
