package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kindlab/kindlab/server/session"
)

// forwardedBy marks a request one replica passed to another.
const forwardedBy = "Kindlab-Forwarded-By"

// atOwner serves a request for a session on the replica that runs it: here,
// or passed on to the live replica that owns it (websockets and streams
// included). When that replica does not answer, this one takes the session
// over and serves the request itself: the learner's page reconnects here.
func (s *Server) atOwner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := chi.URLParam(r, "sid")
		if _, ok := s.sessions.Get(sid); ok || !s.shared {
			next.ServeHTTP(w, r)
			return
		}
		if by := r.Header.Get(forwardedBy); by != "" {
			// Passed here by a replica that believes this one runs it; it
			// does not (any more). Take nothing over on a header's word.
			s.errorPage(w, r, http.StatusServiceUnavailable, publicError{"Your lab session is moving to another server. Reload the page in a few seconds."})
			return
		}
		owner, local, err := s.sessions.Owner(r.Context(), sid)
		switch {
		case errors.Is(err, session.ErrGone) || local:
			next.ServeHTTP(w, r) // not found, or taken over: served here
		case err != nil:
			s.errorPage(w, r, http.StatusServiceUnavailable, err)
		default:
			s.forward(w, r, owner, next)
		}
	})
}

// forward passes r to the replica at owner; when it does not answer, this
// replica takes the session over and serves r with next.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, owner string, next http.Handler) {
	target, err := url.Parse(owner)
	if err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, fmt.Errorf("replica address %q: %w", owner, err))
		return
	}
	sid := chi.URLParam(r, "sid")
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the name the browser used: cookies, Origin and the Host allow-list agree
			pr.Out.Header.Set(forwardedBy, s.replica)
		},
		Transport:     s.peers,
		FlushInterval: -1, // Server-Sent Events as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the browser went away
			}
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "dial" {
				// It took the request and did not answer in time: a slow app
				// link, say. It is not gone; nothing is taken over.
				s.Logger.Warn("the replica running a session did not answer in time", "session", sid, "replica", owner, "error", err)
				s.errorPage(w, r, http.StatusGatewayTimeout, publicError{"The server running your lab did not answer in time. Reload the page."})
				return
			}
			s.Logger.Warn("the replica running a session cannot be reached; taking the session over", "session", sid, "replica", owner, "error", err)
			if s.sessions.TakeOverNow(r.Context(), sid) {
				next.ServeHTTP(w, r)
				return
			}
			s.errorPage(w, r, http.StatusServiceUnavailable, publicError{"Your lab session is moving to another server. Reload the page in a few seconds."})
		},
	}
	proxy.ServeHTTP(w, r)
}

// peerTransport carries requests between replicas: a replica that cannot be
// reached in a few seconds is gone; one that took a request has a minute to
// start answering it.
func peerTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		ResponseHeaderTimeout: time.Minute,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       time.Minute,
	}
}
