// Package labhttp holds the HTTP plumbing shared by the kindlab lab apps (homepage,
// numbers-api, numbers-web): the listen address from PORT, one log line per request,
// the X-Served-By header, and a server with timeouts and graceful shutdown.
//
// It uses only the standard library so the apps build as small static binaries.
package labhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultAddr is where the apps listen when PORT is not set.
const DefaultAddr = ":80"

// ShutdownTimeout bounds how long in-flight requests may run after SIGTERM. It stays well
// under the 30s default terminationGracePeriodSeconds of a pod.
const ShutdownTimeout = 10 * time.Second

// ListenAddr returns DefaultAddr, or ":$PORT" when PORT is set to a port number.
func ListenAddr(getenv func(string) string) (string, error) {
	v := strings.TrimSpace(getenv("PORT"))
	if v == "" {
		return DefaultAddr, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return "", fmt.Errorf("PORT=%q is not a port number: %w", v, err)
	}
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("PORT=%q is outside 1-65535", v)
	}
	return ":" + strconv.Itoa(n), nil
}

// Hostname returns the pod's hostname (its name in Kubernetes), or "unknown".
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

// OK answers 200 "ok"; the apps use it for GET /healthz.
func OK(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

type attrsKey struct{}

// attrList collects extra attributes for a request's log line. Only the goroutine
// serving the request touches it, so it needs no lock.
type attrList struct{ attrs []slog.Attr }

// AddAttrs adds attributes to the log line Handler writes for the request whose
// context is ctx (for example the outcome of a backend call). Without Handler it does
// nothing.
func AddAttrs(ctx context.Context, attrs ...slog.Attr) {
	if l, ok := ctx.Value(attrsKey{}).(*attrList); ok {
		l.attrs = append(l.attrs, attrs...)
	}
}

// Handler wraps next: it sets X-Served-By to hostname and logs one line per request
// with method, path, remote address, user agent, status, bytes, duration and any
// attributes added with AddAttrs.
func Handler(logger *slog.Logger, hostname string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		extra := &attrList{}
		rec := &recorder{ResponseWriter: w}
		w.Header().Set("X-Served-By", hostname)
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), attrsKey{}, extra)))
		attrs := append([]slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("remote", r.RemoteAddr),
			slog.String("user_agent", r.UserAgent()),
			slog.Int("status", rec.statusCode()),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
		}, extra.attrs...)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// recorder remembers the status code and body size a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK // net/http sends 200 when a handler writes nothing
	}
	return r.status
}

// NewServer returns a server for h with timeouts suited to small lab apps. WriteTimeout
// leaves room for numbers-api's injected delays.
func NewServer(logger *slog.Logger, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Run listens on addr and serves h until ctx is done (see Serve).
func Run(ctx context.Context, logger *slog.Logger, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Serve(ctx, logger, ln, h)
}

// Serve serves h on ln until ctx is done, then shuts the server down gracefully, giving
// in-flight requests up to ShutdownTimeout. It returns nil after a clean shutdown.
func Serve(ctx context.Context, logger *slog.Logger, ln net.Listener, h http.Handler) error {
	srv := NewServer(logger, h)
	logger.Info("listening", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.Duration("timeout", ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	logger.Info("stopped")
	return nil
}
