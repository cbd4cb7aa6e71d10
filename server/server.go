// Package server is kindlab's HTTP layer: the chi router, the learner's pages, the
// Server-Sent Events and terminal websocket of a session, the app proxy into the
// learner's cluster, health and metrics. Learners are identified by a random token
// in an HttpOnly cookie scoped to their session's path; every page, stream and
// websocket of a session checks it.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/static"
)

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Pool is what the server needs of the warm pool.
type Pool interface {
	Claim(ctx context.Context, position func(int)) (*cluster.Cluster, error)
	Release(ctx context.Context, name string) error
	Stats() cluster.PoolStats
}

// Clusters finds clusters by name (for sessions recovered after a restart).
type Clusters interface {
	Get(ctx context.Context, name string) (*cluster.Cluster, error)
	List(ctx context.Context) ([]string, error)
	Delete(ctx context.Context, name string) error
}

// Config holds the server's dependencies and settings.
type Config struct {
	Catalog   *labs.Catalog
	Manifests fs.FS
	Store     *store.Store
	Pool      Pool
	Clusters  Clusters
	Logger    *slog.Logger
	Clock     Clock
	// IdleTimeout ends a session nobody has looked at for this long; MaxAge ends
	// any session this long after it started.
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// CheckTick is the safety-net interval of check evaluation (default 5s).
	CheckTick time.Duration
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
}

// Server serves kindlab. Build it with New, serve Handler, stop with Close.
type Server struct {
	Config
	ctx      context.Context
	cancel   context.CancelFunc
	metrics  *metrics
	terminal *terminal.Handler
	ws       *workshops

	nsLimits cluster.NamespaceLimits // what every learner namespace gets (platform/namespace)
	starts   *limiters               // lab starts and resets, per client
	logins   *limiters               // instructor sign-in attempts, per client

	mu          sync.Mutex
	learners    map[string]*learner
	instructors map[string]time.Time // instructor sign-in sessions: token hash -> expiry
}

// New builds a server. Its background work (provisioning, checks, terminals,
// expiry) lives until Close.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil || cfg.Store == nil || cfg.Pool == nil || cfg.Manifests == nil {
		return nil, errors.New("server: catalog, store, pool and manifests are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Hour
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 8 * time.Hour
	}
	cfg.Limits.setDefaults()
	platform, err := fs.Sub(cfg.Manifests, "platform")
	if err != nil {
		return nil, err
	}
	limits, err := cluster.LoadNamespaceLimits(platform)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		Config: cfg, ctx: ctx, cancel: cancel, metrics: &metrics{}, learners: map[string]*learner{},
		instructors: map[string]time.Time{}, nsLimits: limits,
		starts: newLimiters(cfg.Limits.Starts, cfg.Limits.StartBurst),
		logins: newLimiters(cfg.Limits.Logins, cfg.Limits.LoginBurst),
	}
	s.terminal = &terminal.Handler{Authorize: s.authorizeTerminal, Logger: cfg.Logger}
	if err := s.initWorkshops(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Close stops background work. Sessions stay in the store and come back on the
// next start.
func (s *Server) Close() { s.cancel() }

// Handler is the whole route tree.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.frontDoor, middleware.RequestID, s.logRequests, middleware.Recoverer)
	r.Get("/healthz", s.healthz)
	r.Get("/metrics", s.serveMetrics)
	r.Handle("/static/*", http.StripPrefix("/static/", http.FileServerFS(static.FS())))
	r.Get("/", s.catalog)
	r.Post("/labs/{lab}/start", s.start)
	r.Route("/s/{sid}", func(r chi.Router) {
		r.Use(s.loadLearner)
		r.Get("/", s.labPage)
		r.Get("/events", s.events)
		r.Get("/terminal", s.terminal.ServeHTTP)
		r.Post("/reset", s.reset)
		r.Get("/complete", s.complete)
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
		r.Get("/live", s.dashboardLive)
		r.Post("/broadcast", s.broadcast)
		r.Get("/export.{format}", s.export)
		r.Post("/learners/{sid}/{action}", s.learnerAction)
		r.Get("/watch/{sid}", s.watch)
		r.Handle("/watch/{sid}/terminal", s.watchTerminal())
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

// Cookies: a session's token cookie is scoped to its own path, so one browser can
// hold several sessions and no session's cookie reaches another's URLs.
const csrfCookie = "kindlab_csrf"

func sessionCookie(sid string) string { return "kindlab_" + sid }

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// csrfToken returns the double-submit token of this browser, setting it if new.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 {
		return c.Value
	}
	t := randomToken(18)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t, Path: "/", HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	return t
}

// checkCSRF verifies a form's csrf field against the cookie.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
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

func (s *Server) learnerFor(r *http.Request) (*learner, error) {
	sid := chi.URLParam(r, "sid")
	s.mu.Lock()
	l, ok := s.learners[sid]
	s.mu.Unlock()
	if !ok {
		return nil, store.ErrNotFound
	}
	c, err := r.Cookie(sessionCookie(sid))
	if err != nil {
		return nil, errForbidden
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(c.Value)), []byte(l.session().TokenHash)) != 1 {
		return nil, errForbidden
	}
	return l, nil
}

func learnerOf(r *http.Request) *learner { return r.Context().Value(ctxKey{}).(*learner) }

// authorizeTerminal admits a websocket that carries the session cookie and the
// page's terminal token.
func (s *Server) authorizeTerminal(r *http.Request, hello terminal.Hello) (*terminal.Session, bool, error) {
	l, err := s.learnerFor(r)
	if err != nil {
		return nil, false, err
	}
	if subtle.ConstantTimeCompare([]byte(hello.Token), []byte(l.session().TermToken)) != 1 {
		return nil, false, errors.New("wrong terminal token")
	}
	l.touch()
	t, err := l.terminal(s.ctx)
	return t, false, err
}

// publicError is an error whose message is written for learners.
type publicError struct{ msg string }

func (e publicError) Error() string         { return e.msg }
func (e publicError) PublicMessage() string { return e.msg }
