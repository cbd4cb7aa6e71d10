package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/web"
)

// app proxies to a Service of the learner's cluster through the API server's
// service proxy on 127.0.0.1; only the session's own cookie gets here.
func (s *Server) app(w http.ResponseWriter, r *http.Request) {
	l := learnerOf(r)
	l.Active()
	if err := l.Wake(r.Context()); err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, publicError{"Your cluster did not wake up after a pause; a new one is on its way. Try again in a minute."})
		return
	}
	conn := l.Conn()
	if conn == nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, publicError{"Your cluster is not ready yet."})
		return
	}
	service := chi.URLParam(r, "service")
	app, ok := l.Lab().App(service)
	if !ok {
		s.errorPage(w, r, http.StatusNotFound, publicError{"This lab has no app called " + strconv.Quote(service) + "."})
		return
	}
	ns := l.Lab().WorkNamespace()
	base, err := url.Parse(conn.Config.Host)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, err)
		return
	}
	prefix := web.AppURL(l.ID(), service)
	sub := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(prefix, "/"))
	target, err := platform.AppTarget(r.Context(), conn.Client, ns, app)
	if err != nil {
		s.errorPage(w, r, http.StatusBadGateway, publicError{"The app " + service + " is not running in your cluster yet: " + err.Error()})
		return
	}
	target += sub
	ctx, cancel := context.WithTimeout(r.Context(), appTimeout)
	defer cancel()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = base.Scheme, base.Host, base.Host
			pr.Out.URL.Path, pr.Out.URL.RawPath = target, ""
			// Only an allow-list of headers goes on: never kindlab's cookies, nor
			// anything that tells the app about kindlab's origin or the learner.
			for k := range pr.Out.Header {
				if !appRequestHeaders[http.CanonicalHeaderKey(k)] {
					pr.Out.Header.Del(k)
				}
			}
		},
		Transport: conn.Transport(),
		ModifyResponse: func(resp *http.Response) error {
			sandboxApp(resp.Header)
			if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusNotFound {
				resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.Logger.Warn("app proxy", "service", service, "error", err)
			msg := "The app " + service + " does not answer. Is its Service there, and are its pods ready?"
			if errors.Is(err, context.DeadlineExceeded) {
				msg = "The app " + service + " took longer than " + appTimeout.String() + " to answer."
			}
			s.errorPage(w, r, http.StatusBadGateway, publicError{msg})
		},
	}
	proxy.ServeHTTP(w, r.WithContext(ctx))
}

// appTimeout bounds one request to a learner's app, end to end.
const appTimeout = 30 * time.Second

// appRequestHeaders are the request headers an app link forwards.
var appRequestHeaders = map[string]bool{
	"Accept": true, "Accept-Language": true, "Accept-Encoding": true, "Cache-Control": true,
	"Content-Type": true, "Content-Length": true, "If-Match": true, "If-None-Match": true,
	"If-Modified-Since": true, "If-Unmodified-Since": true, "Range": true, "User-Agent": true,
}

// sandboxApp makes a learner's app response harmless on kindlab's origin: the page
// runs in a sandbox with an opaque origin (its script cannot read kindlab's cookies,
// storage or pages, nor call kindlab as the learner), and the headers that could
// set or clear kindlab's cookies, register a service worker or change how the
// browser treats the origin are dropped.
func sandboxApp(h http.Header) {
	for _, k := range []string{"Set-Cookie", "Set-Cookie2", "Service-Worker-Allowed", "Clear-Site-Data",
		"Strict-Transport-Security", "Content-Security-Policy", "Content-Security-Policy-Report-Only",
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Refresh", "Link",
		"Origin-Agent-Cluster", "Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy"} {
		h.Del(k)
	}
	h.Set("Content-Security-Policy", "sandbox allow-scripts allow-forms allow-popups allow-modals")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}
