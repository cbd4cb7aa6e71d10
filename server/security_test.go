package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/session/sessiontest"
	"github.com/kindlab/kindlab/workstation"

	"github.com/kindlab/kindlab/cluster"
)

// instantClusters "creates" clusters at once, for the real Pool in HTTP tests: what
// is tested here is who gets one, not the cluster. Their API server never answers,
// so a session that claims one stays in provisioning (it neither fails nor becomes
// ready) for as long as the test runs.
type instantClusters struct{ kubeconfig string }

func (c instantClusters) Create(ctx context.Context, name string) (*cluster.Cluster, error) {
	return &cluster.Cluster{Name: name, Kubeconfig: c.kubeconfig}, nil
}
func (instantClusters) Delete(context.Context, string) error { return nil }
func (c instantClusters) Get(ctx context.Context, name string) (*cluster.Cluster, error) {
	return c.Create(ctx, name)
}
func (instantClusters) List(context.Context) ([]string, error)              { return nil, nil }
func (instantClusters) LoadImages(context.Context, string, ...string) error { return nil }
func (instantClusters) Node(context.Context, string) (cluster.Node, error) {
	return cluster.Node{State: cluster.NodeGone}, nil // nothing to wait for when one does not answer
}
func (instantClusters) Pause(context.Context, string) error  { return nil }
func (instantClusters) Resume(context.Context, string) error { return nil }

// silentAPIServer writes a kubeconfig for an API server that accepts requests and
// never answers until the test ends.
func silentAPIServer(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); api.Close() })
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: %q}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n", api.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type secureTest struct {
	ts    *httptest.Server
	srv   *Server
	pool  *cluster.Pool
	clock *clock.Fake
}

// newSecureServer serves the built-in labs behind a trusted proxy at 127.0.0.1 (so
// tests can be many clients with X-Forwarded-For), with a real pool of at most
// max instant clusters.
func newSecureServer(t *testing.T, max int, tls bool, mutate func(*Config, *session.Config)) *secureTest {
	t.Helper()
	cat, st := builtinLabsAndMemoryStore(t)
	clusters := instantClusters{kubeconfig: silentAPIServer(t)}
	pool := cluster.NewPool(clusters, cluster.PoolOptions{Max: max})
	ctx, cancel := context.WithCancel(context.Background())
	go pool.Run(ctx)
	clk := clock.NewFake(time.Now())
	t.Cleanup(cancel)
	cfg := Config{Catalog: cat, Store: st, Pool: pool, Clock: clk,
		InstructorToken: testInstructorToken, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	sc := session.Config{Pool: pool, Clusters: clusters}
	if mutate != nil {
		mutate(&cfg, &sc)
	}
	srv := serve(t, cfg, sc)
	ts := httptest.NewUnstartedServer(srv.Handler())
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return &secureTest{ts: ts, srv: srv, pool: pool, clock: clk}
}

// startFrom presses Start on a lab as the client at addr; it returns the status
// and the body.
func (st *secureTest) startFrom(t *testing.T, addr string) (int, string) {
	t.Helper()
	c := browser(t)
	csrf := csrfFor(t, c, st.ts.URL+"/")
	req, _ := http.NewRequest("POST", st.ts.URL+"/labs/services-dns/start", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A hundred anonymous starts from one client get two sessions and a clear refusal
// for the rest; the pool still serves someone else.
func TestStartsPerClientAreCapped(t *testing.T) {
	st := newSecureServer(t, 3, false, nil)
	codes := map[int]int{}
	var refusal string
	for i := 0; i < 100; i++ {
		code, body := st.startFrom(t, "203.0.113.7")
		codes[code]++
		if code == http.StatusTooManyRequests {
			refusal = body
		}
	}
	if codes[http.StatusSeeOther] != 2 || codes[http.StatusTooManyRequests] != 98 {
		t.Fatalf("100 starts from one client: %v; want 2 started (303) and 98 refused (429)", codes)
	}
	if !strings.Contains(refusal, "as many labs running as one person may") && !strings.Contains(refusal, "faster than kindlab allows") {
		t.Errorf("the refusal does not say why:\n%s", refusal)
	}
	waitFor(t, "the client's two clusters", func() bool { return st.pool.Stats().Claimed == 2 })
	if code, body := st.startFrom(t, "198.51.100.9"); code != http.StatusSeeOther {
		t.Fatalf("another client's start = %d; want 303\n%s", code, body)
	}
	waitFor(t, "the other client's cluster", func() bool { return st.pool.Stats().Claimed == 3 })
}

// A forged X-Forwarded-For from an address that is not a trusted proxy changes
// nothing: the client is who connected.
func TestIdentifyTrustsOnlyProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff, proto string
		want                     clientInfo
	}{
		{name: "direct", remote: "192.0.2.1:5000", want: clientInfo{addr: "192.0.2.1"}},
		{name: "forged by a client", remote: "192.0.2.1:5000", xff: "198.51.100.1", proto: "https", want: clientInfo{addr: "192.0.2.1"}},
		{name: "through a proxy", remote: "10.1.2.3:5000", xff: "198.51.100.1", proto: "https", want: clientInfo{addr: "198.51.100.1", https: true}},
		{name: "client prepends a lie", remote: "10.1.2.3:5000", xff: "1.2.3.4, 198.51.100.1", want: clientInfo{addr: "198.51.100.1"}},
		{name: "two proxies", remote: "10.1.2.3:5000", xff: "198.51.100.1, 10.9.9.9", want: clientInfo{addr: "198.51.100.1"}},
		{name: "garbage", remote: "10.1.2.3:5000", xff: "not-an-ip", want: clientInfo{addr: "10.1.2.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if got := identify(r, trusted); got != tt.want {
				t.Errorf("identify(%s, XFF %q) = %+v; want %+v", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

// A session waiting in the queue that is reaped gives up its place, and never
// claims a cluster afterwards.
func TestReapedQueuedSessionNeverClaims(t *testing.T) {
	st := newSecureServer(t, 1, false, func(_ *Config, sc *session.Config) { sc.IdleTimeout = time.Minute })
	if code, _ := st.startFrom(t, "203.0.113.1"); code != http.StatusSeeOther {
		t.Fatalf("first start = %d", code)
	}
	waitFor(t, "the first session's cluster", func() bool { return st.pool.Stats().Claimed == 1 })
	if code, _ := st.startFrom(t, "203.0.113.2"); code != http.StatusSeeOther {
		t.Fatalf("second start = %d", code)
	}
	waitFor(t, "the second session in the queue", func() bool { return st.pool.Stats().Queue == 1 })
	// Both go idle; both are reaped. The first releases its cluster, which must
	// not go to the second.
	st.clock.Advance(2 * time.Minute)
	st.srv.sessions.ReapOnce(context.Background())
	waitFor(t, "the queue to empty", func() bool { return st.pool.Stats().Queue == 0 })
	time.Sleep(200 * time.Millisecond) // the pool refills; nobody may claim
	if s := st.pool.Stats(); s.Claimed != 0 {
		t.Errorf("after both sessions were reaped: %+v; want no claimed cluster", s)
	}
	if ids := st.srv.sessions.IDs(); len(ids) != 0 {
		t.Errorf("live sessions after the reap: %v", ids)
	}
}

// Instructor sign-in: the cookie is an opaque session (never the token), Secure
// over TLS and behind a proxy that says https, with HSTS; sign-out ends it; a
// guesser is slowed down.
func TestInstructorSessions(t *testing.T) {
	t.Run("over TLS", func(t *testing.T) {
		st := newSecureServer(t, 1, true, nil)
		c := st.ts.Client()
		c.Jar = browser(t).Jar
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, _ := postForm(t, c, st.ts.URL+"/instructor/login", url.Values{"token": {testInstructorToken}, "csrf": {csrfFor(t, c, st.ts.URL+"/instructor")}})
		assertSecureSession(t, resp)
	})
	t.Run("behind a proxy that says https", func(t *testing.T) {
		st := newSecureServer(t, 1, false, nil)
		c := browser(t)
		csrf := csrfFor(t, c, st.ts.URL+"/instructor")
		req, _ := http.NewRequest("POST", st.ts.URL+"/instructor/login", strings.NewReader(url.Values{"token": {testInstructorToken}, "csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		assertSecureSession(t, resp)
	})
	t.Run("plain http: not Secure, no HSTS", func(t *testing.T) {
		st := newSecureServer(t, 1, false, nil)
		c := browser(t)
		resp, _ := postForm(t, c, st.ts.URL+"/instructor/login", url.Values{"token": {testInstructorToken}, "csrf": {csrfFor(t, c, st.ts.URL+"/instructor")}})
		for _, ck := range resp.Cookies() {
			if ck.Secure {
				t.Errorf("cookie %s is Secure over plain http (the browser would drop it)", ck.Name)
			}
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Error("HSTS over plain http")
		}
		// Signed in, then signed out: the same cookie no longer works.
		home, _ := get(t, c, st.ts.URL+"/instructor")
		_, doc := get(t, c, st.ts.URL+"/instructor")
		if home.StatusCode != 200 || byTestID(doc, "create-workshop") == nil {
			t.Fatal("not signed in after login")
		}
		old := cookieNamed(c, st.ts.URL, instructorCookie)
		resp, _ = postForm(t, c, st.ts.URL+"/instructor/logout", url.Values{"csrf": {csrfFor(t, c, st.ts.URL+"/instructor")}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout = %d", resp.StatusCode)
		}
		replay := browser(t)
		u, _ := url.Parse(st.ts.URL)
		replay.Jar.SetCookies(u, []*http.Cookie{{Name: instructorCookie, Value: old}})
		if _, doc := get(t, replay, st.ts.URL+"/instructor"); byTestID(doc, "create-workshop") != nil {
			t.Error("the signed-out session cookie still signs in")
		}
	})
	t.Run("guessing is rate-limited", func(t *testing.T) {
		st := newSecureServer(t, 1, false, nil)
		c := browser(t)
		var last int
		for i := 0; i < 8; i++ {
			resp, _ := postForm(t, c, st.ts.URL+"/instructor/login", url.Values{"token": {"wrong-token-guess-0000"}, "csrf": {csrfFor(t, c, st.ts.URL+"/instructor")}})
			last = resp.StatusCode
		}
		if last != http.StatusTooManyRequests {
			t.Errorf("8th wrong guess in a row = %d; want 429", last)
		}
		// Even the right token waits now.
		resp, body := postForm(t, c, st.ts.URL+"/instructor/login", url.Values{"token": {testInstructorToken}, "csrf": {csrfFor(t, c, st.ts.URL+"/instructor")}})
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many sign-in attempts") {
			t.Errorf("login after the limit = %d; want 429 with a message", resp.StatusCode)
		}
	})
}

func cookieNamed(c *http.Client, base, name string) string {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func assertSecureSession(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login = %d; want 303", resp.StatusCode)
	}
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == instructorCookie {
			found = true
			if !ck.Secure || !ck.HttpOnly {
				t.Errorf("instructor cookie Secure=%v HttpOnly=%v; want both", ck.Secure, ck.HttpOnly)
			}
			if ck.Value == testInstructorToken || strings.Contains(ck.Value, testInstructorToken) {
				t.Error("the instructor cookie carries the instructor token itself")
			}
		}
	}
	if !found {
		t.Fatal("no instructor cookie set")
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q; want HSTS over https", hsts)
	}
}

// A foreign Host name (DNS rebinding) is refused; the server's own names are served.
func TestForeignHostRefused(t *testing.T) {
	st := newSecureServer(t, 1, false, func(c *Config, _ *session.Config) { c.Hosts = AllowedHosts("127.0.0.1:8080", "kindlab.example.org") })
	for _, tt := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:8080", http.StatusMisdirectedRequest},
		{"127.0.0.1:8080", http.StatusOK},
		{"localhost:8080", http.StatusOK},
		{"kindlab.example.org", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", st.ts.URL+"/", nil)
		req.Host = tt.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET / with Host %q = %d; want %d", tt.host, resp.StatusCode, tt.want)
		}
	}
}

// An app behind an app link (the learner's own homepage Service, which they
// control) cannot set a cookie on kindlab's origin, register a
// service worker or run script with kindlab's origin, and sees none of kindlab's
// cookies or the learner's other headers.
func TestAppLinkIsSandboxed(t *testing.T) {
	var seen http.Header
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/namespaces/default/services/homepage":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "homepage", "namespace": "default"}})
		case strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/default/services/homepage/proxy"):
			seen = r.Header.Clone()
			h := w.Header()
			h.Set("Set-Cookie", "kindlab_csrf=stolen; Path=/")
			h.Set("Service-Worker-Allowed", "/")
			h.Set("Clear-Site-Data", `"cookies"`)
			h.Set("Content-Type", "text/html")
			fmt.Fprint(w, `<script>fetch("/instructor")</script>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	clusters := sessiontest.New(t, api.Config.Handler)
	st := newSecureServer(t, 1, false, func(cfg *Config, sc *session.Config) {
		cfg.Pool, sc.Pool, sc.Clusters, sc.Connect = clusters, clusters, clusters, clusters.Connect
	})
	lab, _ := st.srv.Catalog.Lab("services-dns")
	l, token, err := st.srv.sessions.Start(context.Background(), "192.0.2.1", lab, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the learner's cluster", func() bool { return l.Conn() != nil })
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "homepage", Namespace: "default"}}
	if _, err := l.Conn().Client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sid := l.ID()
	req, _ := http.NewRequest("GET", st.ts.URL+"/s/"+sid+"/apps/homepage/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie(sid), Value: token})
	req.Header.Set("Authorization", "Bearer learner-secret")
	req.Header.Set("Referer", st.ts.URL+"/s/"+sid+"/")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("app link = %d; want 200", resp.StatusCode)
	}
	// A Service the lab does not declare as an app is not reachable, even the learner's own.
	other, _ := http.NewRequest("GET", st.ts.URL+"/s/"+sid+"/apps/kubernetes/", nil)
	other.AddCookie(&http.Cookie{Name: sessionCookie(sid), Value: token})
	oresp, err := http.DefaultClient.Do(other)
	if err != nil {
		t.Fatal(err)
	}
	oresp.Body.Close()
	if oresp.StatusCode != http.StatusNotFound {
		t.Errorf("an undeclared app = %d; want 404", oresp.StatusCode)
	}
	for _, h := range []string{"Set-Cookie", "Service-Worker-Allowed", "Clear-Site-Data"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("the app's %s reached the browser: %q", h, v)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") || strings.Contains(csp, "allow-same-origin") {
		t.Errorf("Content-Security-Policy = %q; want a sandbox without allow-same-origin", csp)
	}
	for _, h := range []string{"Cookie", "Authorization", "Referer", "X-Forwarded-For"} {
		if v := seen.Get(h); v != "" {
			t.Errorf("the app saw the learner's %s: %q", h, v)
		}
	}
}

func TestAllowedHosts(t *testing.T) {
	tests := []struct {
		addr  string
		extra []string
		want  string
	}{
		{"127.0.0.1:8080", nil, "127.0.0.1 ::1 localhost"},
		{"0.0.0.0:8080", nil, ""},
		{"0.0.0.0:8080", []string{"Lab.Example.org", " "}, "lab.example.org"},
		{"[::1]:8080", nil, "127.0.0.1 ::1 localhost"},
		{"10.1.2.3:80", []string{"kindlab.local"}, "10.1.2.3 kindlab.local"},
	}
	for _, tt := range tests {
		if got := strings.Join(AllowedHosts(tt.addr, tt.extra...), " "); got != tt.want {
			t.Errorf("AllowedHosts(%q, %q) = %q; want %q", tt.addr, tt.extra, got, tt.want)
		}
	}
}

// TestListenHosts: an address beyond loopback (a wildcard or an interface's)
// needs --host names; loopback serves its own names without.
func TestListenHosts(t *testing.T) {
	tests := []struct {
		addr    string
		hosts   []string
		want    string
		refused bool
	}{
		{addr: "127.0.0.1:8080", want: "127.0.0.1 ::1 localhost"},
		{addr: "localhost:8080", want: "127.0.0.1 ::1 localhost"},
		{addr: "[::1]:8080", want: "127.0.0.1 ::1 localhost"},
		{addr: "0.0.0.0:8080", refused: true},
		{addr: ":8080", refused: true},
		{addr: "[::]:8080", hosts: []string{" ", ""}, refused: true},
		{addr: "10.1.2.3:80", refused: true},
		{addr: "0.0.0.0:8080", hosts: []string{"Lab.Example.org"}, want: "lab.example.org"},
		{addr: "10.1.2.3:80", hosts: []string{"kindlab.local"}, want: "10.1.2.3 kindlab.local"},
	}
	for _, tt := range tests {
		got, err := ListenHosts(tt.addr, tt.hosts...)
		if tt.refused {
			if err == nil || !strings.Contains(err.Error(), "--host") {
				t.Errorf("ListenHosts(%q, %q) = %q, %v; want an error naming --host", tt.addr, tt.hosts, got, err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("ListenHosts(%q, %q) = %q, %v; want %q", tt.addr, tt.hosts, got, err, tt.want)
		}
	}
}

// A learner whose clusters failed can press Try again: failed sessions do not count
// against the per-client cap.
func TestFailedSessionsDoNotBlockTryAgain(t *testing.T) {
	broken := make(chan struct{}) // closed: the clusters turn out broken
	st := newSecureServer(t, 3, false, func(_ *Config, sc *session.Config) {
		sc.Connect = func(*cluster.Cluster) (*workstation.Conn, error) {
			<-broken
			return nil, errors.New("the API server does not answer")
		}
	})
	for i := 0; i < 2; i++ {
		if code, _ := st.startFrom(t, "203.0.113.5"); code != http.StatusSeeOther {
			t.Fatalf("start %d = %d", i+1, code)
		}
	}
	if code, _ := st.startFrom(t, "203.0.113.5"); code != http.StatusTooManyRequests {
		t.Fatalf("third live session = %d; want 429", code)
	}
	close(broken)
	waitFor(t, "both sessions to fail", func() bool { return st.srv.sessions.Running("203.0.113.5") == 0 })
	st.clock.Advance(time.Minute) // past the start rate limit
	if code, body := st.startFrom(t, "203.0.113.5"); code != http.StatusSeeOther {
		t.Fatalf("Try again after two failed sessions = %d; want 303\n%s", code, body)
	}
}
