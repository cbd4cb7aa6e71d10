package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Web-side defences (SECURITY.md, "The web side"): which Host names are served, who
// the client is (behind a trusted proxy, too), whether the request arrived over
// HTTPS, and per-client limits on what costs a cluster or guesses a token.

// Limits bound what one client (one IP address) may do.
type Limits struct {
	// SessionsPerClient is how many live lab sessions one client may hold (default 2).
	SessionsPerClient int
	// Starts is the rate of lab starts and resets per client (default 6 a minute,
	// in bursts of up to 3).
	Starts     rate.Limit
	StartBurst int
	// Logins is the rate of instructor sign-in attempts per client (default 5 a
	// minute, bursts of up to 5).
	Logins     rate.Limit
	LoginBurst int
	// StreamsPerSession is how many live connections (event streams and
	// terminals; a workshop's dashboard feeds and watched terminals) one
	// session or workshop may hold open at once (default 16: a page has two).
	StreamsPerSession int
	// StreamsPerClient is how many live connections one client may hold open
	// at once (default 128: a room behind one NAT address shares it).
	StreamsPerClient int
}

func (l *Limits) setDefaults() {
	if l.SessionsPerClient <= 0 {
		l.SessionsPerClient = 2
	}
	if l.Starts == 0 {
		l.Starts, l.StartBurst = rate.Every(10*time.Second), 3
	}
	if l.Logins == 0 {
		l.Logins, l.LoginBurst = rate.Every(12*time.Second), 5
	}
	if l.StreamsPerSession <= 0 {
		l.StreamsPerSession = 16
	}
	if l.StreamsPerClient <= 0 {
		l.StreamsPerClient = 128
	}
}

// limiters holds one token bucket per client for one kind of action. Buckets idle
// for longer than an hour are forgotten.
type limiters struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

func newLimiters(limit rate.Limit, burst int) *limiters {
	return &limiters{limit: limit, burst: max(1, burst), buckets: map[string]*bucket{}}
}

// allow takes one token of client's bucket at now.
func (l *limiters) allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Hour {
		for k, b := range l.buckets {
			if now.Sub(b.used) > time.Hour {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[client]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[client] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}

// clientInfo is what the server trusts about where a request came from.
type clientInfo struct {
	addr  string // the client's IP address
	https bool   // the browser spoke HTTPS (directly, or to a trusted proxy)
}

type clientKey struct{}

// clientOf returns what the client middleware found.
func clientOf(r *http.Request) clientInfo {
	if c, ok := r.Context().Value(clientKey{}).(clientInfo); ok {
		return c
	}
	return clientInfo{addr: remoteIP(r.RemoteAddr), https: r.TLS != nil}
}

func remoteIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// identify works out the client: its own address, or, when that address is a
// trusted proxy, the last address in X-Forwarded-For that is not one (a client
// can put anything in front of the list, so it is read from the right), and
// X-Forwarded-Proto for HTTPS.
func identify(r *http.Request, trusted []netip.Prefix) clientInfo {
	c := clientInfo{addr: remoteIP(r.RemoteAddr), https: r.TLS != nil}
	if !isTrusted(c.addr, trusted) {
		return c
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break
		}
		c.addr = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	if proto := r.Header.Get("X-Forwarded-Proto"); proto != "" {
		c.https = strings.EqualFold(strings.TrimSpace(strings.Split(proto, ",")[0]), "https")
	}
	return c
}

func isTrusted(addr string, trusted []netip.Prefix) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// allowedHost reports whether host (a request's Host header) names this server.
// Refusing other names defeats DNS rebinding: a page on evil.example whose name
// resolves to 127.0.0.1 still sends Host: evil.example.
func allowedHost(host string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	h := strings.ToLower(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	return slices.Contains(allowed, h)
}

// ListenHosts returns the Host names a server listening on addr serves
// (AllowedHosts), or an error when addr reaches beyond loopback and hosts
// names none: a wildcard address would otherwise serve any Host, and a
// learner's page could be reached by a name they control (DNS rebinding).
func ListenHosts(addr string, hosts ...string) ([]string, error) {
	if _, loopback := listenHost(addr); !loopback && len(hostNames(hosts)) == 0 {
		return nil, fmt.Errorf("--addr %s listens beyond this machine: name the host names learners reach kindlab by with --host (comma-separated, e.g. --host workshop.example.org,192.0.2.10); kindlab refuses every other Host", addr)
	}
	return AllowedHosts(addr, hosts...), nil
}

// AllowedHosts lists the names a server listening on addr answers to by default:
// the address itself, and localhost when it is a loopback address.
func AllowedHosts(addr string, extra ...string) []string {
	host, loopback := listenHost(addr)
	out := []string{}
	if host != "" && host != "0.0.0.0" && host != "::" {
		out = append(out, strings.ToLower(host))
	}
	if loopback {
		out = append(out, "localhost", "127.0.0.1", "::1")
	}
	out = append(out, hostNames(extra)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// listenHost is the host of a listen address, and whether it is loopback.
func listenHost(addr string) (host string, loopback bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	ip, err := netip.ParseAddr(host)
	return host, err == nil && ip.IsLoopback() || host == "localhost"
}

// hostNames are the names given with --host, lower-case, blanks left out.
func hostNames(names []string) []string {
	var out []string
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// frontDoor is the first middleware: it refuses unknown Host names, records who the
// client is, and sets the headers every response carries.
func (s *Server) frontDoor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedHost(r.Host, s.Hosts) {
			s.Logger.Warn("refused host", "host", r.Host, "remote", r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusMisdirectedRequest)
			w.Write([]byte("kindlab does not serve this host name. Use the address kindlab printed when it started.\n"))
			return
		}
		c := identify(r, s.TrustedProxies)
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		if c.https {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r.WithContext(contextWithClient(r, c)))
	})
}

func contextWithClient(r *http.Request, c clientInfo) context.Context {
	return context.WithValue(r.Context(), clientKey{}, c)
}

// secure reports whether cookies set in answer to r must be Secure.
func (s *Server) secure(r *http.Request) bool {
	return s.SecureCookies || clientOf(r).https
}
