package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/html"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/session/sessiontest"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/workshop"
)

// waitingPool never has a cluster: every claim waits in the queue at position 1.
type waitingPool struct{}

func (waitingPool) Claim(ctx context.Context, position func(int)) (*cluster.Cluster, error) {
	position(1)
	<-ctx.Done()
	return nil, ctx.Err()
}
func (waitingPool) Release(context.Context, string) error { return nil }
func (waitingPool) Stats() cluster.PoolStats              { return cluster.PoolStats{Queue: 1, Max: 2} }

func newTestServer(t *testing.T) *httptest.Server { return newTestServerWith(t, "") }

// newTestServerWith serves the built-in labs with a pool that never has a
// cluster, an in-memory store and the given instructor token.
func newTestServerWith(t *testing.T, instructorToken string) *httptest.Server {
	t.Helper()
	cat, st := builtinLabsAndMemoryStore(t)
	srv := serve(t, Config{Catalog: cat, Store: st, InstructorToken: instructorToken},
		session.Config{Pool: waitingPool{}, Clusters: sessiontest.New(t, nil)})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// builtinLabsAndMemoryStore loads the built-in catalog and opens an in-memory store;
// the caller closes the store.
func builtinLabsAndMemoryStore(t *testing.T) (*labs.Catalog, *store.Store) {
	t.Helper()
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	return cat, st
}

// browser is an HTTP client with its own cookies that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, *html.Node) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, _ := html.Parse(resp.Body)
	return resp, doc
}

// byTestID finds the first element with data-testid=id.
func byTestID(n *html.Node, id string) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == "data-testid" && a.Val == id {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := byTestID(c, id); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// csrfOf reads the csrf field of the start form of a lab on the catalog.
func csrfOf(t *testing.T, doc *html.Node) string {
	t.Helper()
	var find func(*html.Node) string
	find = func(n *html.Node) string {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") == "csrf" {
			return attr(n, "value")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if v := find(c); v != "" {
				return v
			}
		}
		return ""
	}
	v := find(doc)
	if v == "" {
		t.Fatal("no csrf field on the page")
	}
	return v
}

// startLab starts services-dns as a browser and returns the session URL.
func startLab(t *testing.T, ts *httptest.Server, c *http.Client) string {
	t.Helper()
	_, doc := get(t, c, ts.URL+"/")
	resp, err := c.PostForm(ts.URL+"/labs/services-dns/start", url.Values{"csrf": {csrfOf(t, doc)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start = %d; want 303", resp.StatusCode)
	}
	return ts.URL + resp.Header.Get("Location")
}

func TestCatalogAndStart(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	resp, doc := get(t, c, ts.URL+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	for _, id := range []string{"pod-networking", "services-dns", "numbers", "service-types"} {
		if byTestID(doc, "lab-card-"+id) == nil {
			t.Errorf("catalog has no card for %s", id)
		}
	}
	sessionURL := startLab(t, ts, c)
	resp, doc = get(t, c, sessionURL)
	if resp.StatusCode != 200 || byTestID(doc, "progress") == nil {
		t.Fatalf("session page = %d, progress view present: %v", resp.StatusCode, byTestID(doc, "progress") != nil)
	}
	cookies := c.Jar.Cookies(mustURL(t, sessionURL))
	found := false
	for _, ck := range cookies {
		found = found || strings.HasPrefix(ck.Name, "kindlab_") && ck.Name != csrfCookie
	}
	if !found {
		t.Error("no session cookie set for the session path")
	}
}

func TestStartNeedsCSRF(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	tests := []struct {
		name string
		form url.Values
	}{
		{name: "missing", form: url.Values{}},
		{name: "wrong", form: url.Values{"csrf": {"forged-token-value"}}},
	}
	get(t, c, ts.URL+"/") // sets the csrf cookie
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.PostForm(ts.URL+"/labs/services-dns/start", tt.form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("start with %s csrf = %d; want 403", tt.name, resp.StatusCode)
			}
		})
	}
	resp, err := c.PostForm(ts.URL+"/labs/no-such-lab/start", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("start of an unknown lab = %d; want 404", resp.StatusCode)
	}
}

// TestSecondLearnerLockedOut: a second browser cannot open the first learner's
// page, events, terminal websocket or app link.
func TestSecondLearnerLockedOut(t *testing.T) {
	ts := newTestServer(t)
	first, second := browser(t), browser(t)
	sessionURL := startLab(t, ts, first)
	startLab(t, ts, second) // the second learner has a session of their own

	for _, path := range []string{"", "/events", "/apps/homepage/", "/complete"} {
		resp, err := second.Get(sessionURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("second learner GET %s = %d; want 403", path, resp.StatusCode)
		}
	}
	wsURL := "ws" + strings.TrimPrefix(sessionURL, "http") + "/terminal"
	d := websocket.Dialer{Subprotocols: []string{"kindlab.term.v1"}, Jar: second.Jar}
	conn, resp, err := d.Dial(wsURL, http.Header{"Origin": {ts.URL}})
	if err == nil {
		conn.Close()
		t.Fatal("second learner opened the first learner's terminal websocket")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("terminal websocket for the second learner: %v, status %v; want 403", err, resp)
	}
}

func TestTerminalRefusesWrongTokenAndForeignOrigin(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	sessionURL := startLab(t, ts, c)
	wsURL := "ws" + strings.TrimPrefix(sessionURL, "http") + "/terminal"

	d := websocket.Dialer{Subprotocols: []string{"kindlab.term.v1"}, Jar: c.Jar}
	_, resp, err := d.Dial(wsURL, http.Header{"Origin": {"http://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: err %v, resp %v; want 403", err, resp)
	}

	conn, _, err := d.Dial(wsURL, http.Header{"Origin": {ts.URL}})
	if err != nil {
		t.Fatalf("own Origin refused: %v", err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]any{"type": "hello", "token": "not-the-token", "lastSeq": 0})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4001 {
			t.Errorf("wrong terminal token: %v; want close 4001", err)
		}
		break
	}
}

// gatedPool hands out its fake's clusters once open is closed.
type gatedPool struct {
	*sessiontest.Clusters
	open chan struct{}
}

func (p gatedPool) Claim(ctx context.Context, position func(int)) (*cluster.Cluster, error) {
	position(1)
	select {
	case <-p.open:
		return p.Clusters.Claim(ctx, position)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestTerminalBeforeTheClusterIsReady: a page's terminal that connects, with
// the right token, while the learner's cluster is still being readied (as
// when it reconnects to a replica taking its session over) waits for it; when
// the cluster does not come in time the page is told to try again (1013),
// never that it is not authorized (4001: the page would stop reconnecting).
func TestTerminalBeforeTheClusterIsReady(t *testing.T) {
	cat, st := builtinLabsAndMemoryStore(t)
	clusters := sessiontest.New(t, nil)
	pool := gatedPool{clusters, make(chan struct{})}
	const wait = 2 * time.Second
	srv := serve(t, Config{Catalog: cat, Store: st, Pool: pool, TerminalWait: wait},
		session.Config{Pool: pool, Clusters: clusters, Connect: clusters.Connect})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c := browser(t)
	sessionURL := startLab(t, ts, c)
	sid, err := url.PathUnescape(strings.Split(strings.TrimPrefix(sessionURL, ts.URL+"/s/"), "/")[0])
	if err != nil {
		t.Fatal(err)
	}
	sess, err := st.Session(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	// hello connects the page's terminal and returns the server's first answer:
	// "hello", or the close code.
	hello := func() (string, time.Duration) {
		d := websocket.Dialer{Subprotocols: []string{"kindlab.term.v1"}, Jar: c.Jar}
		conn, _, err := d.Dial("ws"+strings.TrimPrefix(sessionURL, "http")+"/terminal", http.Header{"Origin": {ts.URL}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		began := time.Now()
		conn.WriteJSON(map[string]any{"type": "hello", "token": sess.TermToken, "lastSeq": 0})
		conn.SetReadDeadline(time.Now().Add(3 * wait))
		for {
			var m struct{ Type string }
			typ, data, err := conn.ReadMessage()
			if ce, ok := err.(*websocket.CloseError); ok {
				return fmt.Sprintf("close %d", ce.Code), time.Since(began)
			}
			if err != nil {
				return err.Error(), time.Since(began)
			}
			if typ == websocket.TextMessage && json.Unmarshal(data, &m) == nil && m.Type != "" {
				return m.Type, time.Since(began)
			}
		}
	}

	if got, after := hello(); got != "close 1013" || after < wait {
		t.Errorf("a terminal while the cluster does not come: %s after %s; want close 1013 after %s", got, after, wait)
	}
	time.AfterFunc(wait/4, func() { close(pool.open) })
	if got, after := hello(); got != "hello" {
		t.Errorf("a terminal while the cluster comes: %s after %s; want hello", got, after)
	}
}

func TestEventsStreamProgress(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	sessionURL := startLab(t, ts, c)
	c.Timeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", sessionURL+"/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data:") && strings.Contains(line, `"queue":1`) {
			return // the learner learns their queue position
		}
	}
	t.Error("no progress event with the queue position arrived")
}

func TestHealthAndMetrics(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	resp, err := c.Get(ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	resp, err = c.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var body strings.Builder
	for sc.Scan() {
		body.WriteString(sc.Text() + "\n")
	}
	for _, want := range []string{"kindlab_pool_queue 1", "kindlab_pool_max 2", "kindlab_store_writes_delayed 0", "# TYPE kindlab_sessions_started_total counter"} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, body.String())
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// serve builds what kindlab serve builds around a Server of cfg: the
// workshop board and the session manager, whose events the board records.
// sc holds the sessions' own settings; its catalog, store, manifests and
// namespace limits default to cfg's and the built-in ones, and cfg.Pool to
// sc.Pool. When the test ends, the server and the sessions stop and the
// store is closed.
func serve(t testing.TB, cfg Config, sc session.Config) *Server {
	t.Helper()
	srv, _ := serveStoppable(t, cfg, sc)
	return srv
}

// serveStoppable is serve, and stop ends the server and its sessions before
// the test does, as a replica stopping would.
func serveStoppable(t testing.TB, cfg Config, sc session.Config) (srv *Server, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if sc.Catalog == nil {
		sc.Catalog = cfg.Catalog
	}
	if sc.Store == nil {
		sc.Store = cfg.Store
	}
	if sc.Manifests == nil {
		sc.Manifests = manifests.FS()
	}
	if sc.Limits.Quota == nil {
		platformFS, _ := fs.Sub(sc.Manifests, "platform")
		limits, err := platform.LoadNamespaceLimits(platformFS)
		if err != nil {
			t.Fatal(err)
		}
		sc.Limits = limits
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	board, err := workshop.NewBoard(cfg.Store, cfg.Catalog, workshop.WithClock(cfg.Clock))
	if err != nil {
		t.Fatal(err)
	}
	sc.Clock = cfg.Clock
	sc.OnEvent = func(e activity.Event) { board.Record(ctx, e) }
	sessions, err := session.New(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Backend() == "postgres" { // as kindlab serve does
		go board.Follow(ctx, sc.Replica, func(e activity.Event) { sessions.TellWorkshop(e.Workshop, e.Message) })
	}
	cfg.Sessions, cfg.Board = sessions, board
	if cfg.Pool == nil {
		cfg.Pool = sc.Pool.(Pool)
	}
	srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop = func() { srv.Close(); cancel() }
	t.Cleanup(func() { stop(); cfg.Store.Close() })
	return srv, stop
}
