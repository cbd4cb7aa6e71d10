//go:build e2e

package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/kindlab/kindlab/cluster"
	labplatform "github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/server"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/workshop"
)

// platform is a running kindlab: real clusters, a warm pool, a real store.
type platform struct {
	URL   string
	Pool  *cluster.Pool // the pool it claims from: the package's shared one, or its own
	m     *scope
	stop  func() // stops the server as a kill would: clusters and the store stay
	store string // the SQLite file
	db    *store.Store
}

// newManager makes a cluster manager for the images the source tree builds;
// the test's end deletes every pool cluster on the host (kindlab-p-…, the
// clusters of the pools and kindlab processes the test made).
func newManager(t testing.TB) *cluster.Manager {
	t.Helper()
	opts, err := managerOptions(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		names, _ := m.List(context.Background())
		for _, n := range names {
			if strings.HasPrefix(n, cluster.PoolPrefix) {
				m.Delete(context.Background(), n)
			}
		}
	})
	return m
}

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startPlatform runs a kindlab of the test's own (its store, its settings)
// over the package's shared pool of warm clusters.
func startPlatform(t testing.TB, opts ...func(*session.Config)) *platform {
	return startServer(t, sharedScope(t), filepath.Join(t.TempDir(), "kindlab.db"), opts...)
}

// startHandingOver is startPlatform for a test whose learners leave their
// clusters in a known state: each cluster its kindlab lets go of is handed
// to the next test (fixtures.handOver) instead of deleted.
func startHandingOver(t testing.TB, opts ...func(*session.Config)) *platform {
	s := sharedScope(t)
	s.handOver = true
	return startServer(t, s, filepath.Join(t.TempDir(), "kindlab.db"), opts...)
}

// startServer runs a kindlab server over a scope's clusters and pool and a
// store file, recovering the sessions the store holds, as kindlab serve does:
// the workshops' board, the session manager (opts set its settings), the
// server over both.
func startServer(t testing.TB, s *scope, dbPath string, opts ...func(*session.Config)) *platform {
	t.Helper()
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	platformFS, _ := fs.Sub(manifests.FS(), "platform")
	limits, err := labplatform.LoadNamespaceLimits(platformFS)
	if err != nil {
		t.Fatal(err)
	}
	board, err := workshop.NewBoard(st, cat)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := session.Config{Catalog: cat, Manifests: manifests.FS(), Store: st, Pool: s, Clusters: s, Limits: limits, Logger: testLog(),
		CheckTick: 2 * time.Second, OnEvent: func(e activity.Event) { board.Record(ctx, e) }}
	for _, o := range opts {
		o(&sc)
	}
	sessions, err := session.New(ctx, sc)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Catalog: cat, Store: st, Sessions: sessions, Board: board, Pool: s, FreeMemory: s.FreeMemoryMiB,
		Logger: sc.Logger, InstructorToken: e2eInstructorToken,
		Limits: server.Limits{SessionsPerClient: 1000, Starts: rate.Inf}}) // benchmarks start many
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := sessions.Recover(context.Background(), s.adopt); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			ts.CloseClientConnections()
			ts.Close()
			srv.Close()
			cancel()
			st.Close()
		}
	}
	t.Cleanup(stop)
	return &platform{URL: ts.URL, Pool: s.pool, m: s, stop: stop, store: dbPath, db: st}
}

// newBrowser opens a tab of the package's Chromium in a browser context of
// its own (no cookies from other tests); cancel closes it.
func newBrowser(t testing.TB) (context.Context, context.CancelFunc) {
	t.Helper()
	return chromedp.NewContext(shared.browserContext(t), chromedp.WithNewBrowserContext())
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(ctx context.Context, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", timeout, expr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// doEach runs the actions one by one. An action that fails because the node it
// found went stale (the page replaced its document between the query and the
// act, which Chromium reports as "Could not find node with given id") is run
// again, up to three times: it did nothing the first time.
func doEach(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	for _, a := range actions {
		var err error
		for range 3 {
			if err = chromedp.Do(ctx, a); err == nil || !strings.Contains(err.Error(), "Could not find node with given id") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// waitWarm waits up to 5 minutes for the pool to have a warm cluster.
func waitWarm(t testing.TB, p *platform) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for p.Pool.Stats().Warm < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the pool made no warm cluster in 5 minutes")
		}
		time.Sleep(time.Second)
	}
}

// startLab starts services-dns from the catalog, as a learner clicks
// its Start button, and waits for an interactive terminal.
func startLab(t testing.TB, ctx context.Context, p *platform) {
	t.Helper()
	startLabAt(t, ctx, p.URL, time.Minute)
}

// startLabAt starts services-dns from the catalog at base and waits up to
// wait for an interactive terminal.
func startLabAt(t testing.TB, ctx context.Context, base string, wait time.Duration) {
	t.Helper()
	err := doEach(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="start-services-dns"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="start-services-dns"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal"]`)),
	)
	if err != nil {
		t.Fatalf("start the lab: %v", err)
	}
	if err := waitJS(ctx, `window.kindlab.connected && window.kindlab.termText().includes("$")`, wait); err != nil {
		t.Fatalf("terminal: %v\n%s", err, termText(ctx))
	}
}

// onStep is true once the page shows step n with its Run buttons.
func onStep(n int) string {
	return fmt.Sprintf(`(document.querySelector('[data-testid="lab-page"]')||{}).dataset?.step === "%d" && !!document.querySelector('[data-testid="run-1"]')`, n)
}

func checkStatus(id string) string {
	return fmt.Sprintf(`(document.querySelector('[data-testid="check-%s"]')||{}).dataset?.status`, id)
}

// TestE2ELearnerInBrowser: a learner opens the catalog, starts services-dns, runs
// the first steps with the Run buttons and Next, sees their checks turn green
// (step 2's while its port-forward still runs), reloads the
// page and gets the terminal back with its history; another browser cannot open
// their app link. Done, the learner ends the session from the completion screen
// and their cluster is deleted.
func TestE2ELearnerInBrowser(t *testing.T) {
	p := startPlatform(t)
	waitWarm(t, p)
	ctx, cancel := newBrowser(t)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 8*time.Minute)
	defer tcancel()

	start := time.Now()
	startLab(t, ctx, p)
	t.Logf("start to an interactive terminal with a warm pool: %s", time.Since(start).Round(time.Millisecond))

	// Step 1: apply the manifest with the Run button; the check turns green.
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, checkStatus("homepage-ready")+` === "pass"`, 3*time.Minute); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
		t.Fatalf("step 1 check: %v\nterminal:\n%s", err, text)
	}
	if err := waitJS(ctx, `!document.querySelector('[data-testid="next-step"]').hidden`, 10*time.Second); err != nil {
		t.Errorf("next step not offered after all checks passed: %v", err)
	}

	// Step 2: the port-forward, and the app link reaches the homepage through kindlab.
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="next-step"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, onStep(2), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.connected`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.termText().includes("Forwarding from")`, time.Minute); err != nil {
		t.Errorf("port-forward: %v", err)
	}
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid="app-link-homepage"]`), "href"))
	if err != nil {
		t.Fatalf("no app link on step 2: %v", err)
	}
	appHref := href.Value
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => r.text())`, appHref), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "Sign up") {
		t.Errorf("app link %s answered %q; want the homepage", appHref, firstLine(body))
	}
	// A second browser (no session cookie) cannot use that link.
	resp, err := http.Get(strings.TrimSuffix(p.URL, "/") + appHref)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("app link from another browser = %d; want 403", resp.StatusCode)
	}

	// The step turns green while the port-forward runs, as the step asks.
	if err := waitJS(ctx, checkStatus("port-forwarded")+` === "pass"`, time.Minute); err != nil {
		t.Fatalf("step 2 check with the port-forward running: %v", err)
	}

	// Step 3: the interrupt variant stops the port-forward, then reads the logs.
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="next-step"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, onStep(3), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.connected`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	clicked := time.Now()
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, checkStatus("logs-by-selector")+` === "pass"`, time.Minute); err != nil {
		t.Fatalf("step 3 check: %v", err)
	}
	t.Logf("check latency, Run click to green check in the page: %s", time.Since(clicked).Round(time.Millisecond))

	// Reload: the terminal comes back with what it showed before.
	if err := doEach(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.connected && window.kindlab.termText().includes("deployment.apps/homepage created")`, time.Minute); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
		t.Errorf("terminal history after reload: %v\n%s", err, text)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
	if n := strings.Count(text, "deployment.apps/homepage created"); n != 1 {
		t.Errorf("after reload the terminal shows the apply output %d times; want exactly once", n)
	}

	// Done: End this session frees the cluster.
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := p.db.Session(context.Background(), sessionID(t, strings.TrimPrefix(loc, p.URL)))
	if err != nil || sess.Cluster == "" {
		t.Fatalf("the learner's session in the store: %+v, %v", sess, err)
	}
	err = doEach(ctx,
		chromedp.Navigate(loc+"/complete"),
		chromedp.Click(chromedp.CSS(`[data-testid="end-session"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="start-services-dns"]`)),
	)
	if err != nil {
		t.Fatalf("end the session: %v", err)
	}
	gone := time.Now().Add(time.Minute)
	for {
		if names, err := p.m.List(context.Background()); err == nil && !slices.Contains(names, sess.Cluster) {
			break
		}
		if time.Now().After(gone) {
			t.Fatalf("cluster %s still exists a minute after the learner ended the session", sess.Cluster)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// startSession starts services-dns as a plain HTTP client and waits until the
// session is ready; it returns the client (with the session cookie) and the URL.
func startSession(t testing.TB, base string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Minute}
	resp, err := c.PostForm(base+"/labs/services-dns/start", url.Values{"csrf": {pageCSRF(t, c, base+"/")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sessionURL := resp.Request.URL.String()
	resp, err = c.Get(sessionURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data:") && strings.Contains(sc.Text(), `"done":true`) {
			break
		}
	}
	resp.Body.Close()
	return c, sessionURL
}

// pageCSRF loads a page and returns its form's csrf token.
func pageCSRF(t testing.TB, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on %s", u)
	}
	return string(m[1])
}

// openTerminal opens the session's terminal websocket and waits for the prompt.
func openTerminal(t testing.TB, c *http.Client, sessionURL string) *websocket.Conn {
	t.Helper()
	resp, err := c.Get(sessionURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := regexp.MustCompile(`data-token="([^"]+)"`).FindSubmatch(page)
	if tok == nil {
		t.Fatalf("no terminal token on the lab page:\n%s", page)
	}
	u, _ := url.Parse(sessionURL)
	d := websocket.Dialer{Subprotocols: []string{"kindlab.term.v1"}, Jar: c.Jar}
	conn, _, err := d.Dial("ws://"+u.Host+u.Path+"/terminal", http.Header{"Origin": {"http://" + u.Host}})
	if err != nil {
		t.Fatal(err)
	}
	conn.WriteJSON(map[string]any{"type": "hello", "token": string(tok[1]), "lastSeq": 0})
	readUntil(t, conn, "$")
	return conn
}

// readUntil reads terminal output until it contains want, for a minute at most.
func readUntil(t testing.TB, conn *websocket.Conn, want string) string {
	t.Helper()
	return readUntilWithin(t, conn, want, time.Minute)
}

// readUntilWithin reads terminal output until it contains want, for d at most.
func readUntilWithin(t testing.TB, conn *websocket.Conn, want string, d time.Duration) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	var seen strings.Builder
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("terminal: %v (seen %q)", err, seen.String())
		}
		if typ == websocket.BinaryMessage && len(data) > 8 {
			seen.Write(data[8:])
			if strings.Contains(seen.String(), want) {
				return seen.String()
			}
		}
	}
}

func startToTerminal(b *testing.B, base string) {
	c, sessionURL := startSession(b, base)
	openTerminal(b, c, sessionURL).Close()
}

// TestE2ERestartRecovers: the server is killed mid-session and started again on
// the same store; the learner's page comes back on their step, with their cluster
// and what they made in it. Then "Reset my cluster" gives the learner a fresh
// cluster, without what they made, and a working terminal on the same step.
func TestE2ERestartRecovers(t *testing.T) {
	s := sharedScope(t)
	db := filepath.Join(t.TempDir(), "kindlab.db")
	p := startServer(t, s, db)
	c, sessionURL := startSession(t, p.URL)
	conn := openTerminal(t, c, sessionURL)
	conn.WriteJSON(map[string]any{"type": "input", "data": "echo kindlab-was-here > ~/mark && echo SAVED$((40+2))\r"})
	readUntil(t, conn, "SAVED42")
	conn.Close()
	resp, err := c.PostForm(sessionURL+"/step", url.Values{"step": {"3"}, "csrf": {pageCSRF(t, c, sessionURL)}}) // the learner picks step 3
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	sess, err := p.db.Session(context.Background(), sessionID(t, strings.TrimPrefix(sessionURL, p.URL)))
	if err != nil || sess.Cluster == "" {
		t.Fatalf("the learner's session in the store: %+v, %v", sess, err)
	}
	p.stop() // killed: no session is ended, no cluster deleted
	q := startServer(t, s, db)
	u, _ := url.Parse(sessionURL)
	qu, _ := url.Parse(q.URL)
	u.Host = qu.Host
	resp, err = c.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	onStep3 := regexp.MustCompile(`data-testid="step-title"[^>]*>\s*Read the logs by label`).Match(page)
	if resp.StatusCode != 200 || !onStep3 {
		t.Fatalf("after a restart the session page = %d, showing step 3: %v", resp.StatusCode, onStep3)
	}
	conn = openTerminal(t, c, u.String())
	conn.WriteJSON(map[string]any{"type": "input", "data": "cat ~/mark\r"})
	readUntil(t, conn, "kindlab-was-here")
	conn.Close()
	if got := s.Adopted(); !slices.Equal(got, []string{sess.Cluster}) {
		t.Errorf("the kindlab started again took back clusters %v into its pool as claimed; want the session's %s", got, sess.Cluster)
	}
	resetGivesFreshCluster(t, q, c, u.String(), sess.Cluster)
}

// BenchmarkStartCold: a start with no warm cluster, over HTTP and the terminal
// websocket: the start waits for a create (BenchmarkStartWarm, in Chromium,
// measures starts from the warm pool).
func BenchmarkStartCold(b *testing.B) {
	p := startServer(b, ownScope(b, 0), filepath.Join(b.TempDir(), "kindlab.db"))
	var total time.Duration
	var heap uint64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		startToTerminal(b, p.URL)
		total += time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if after.HeapInuse > before.HeapInuse {
			heap += after.HeapInuse - before.HeapInuse
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/start-to-terminal")
	b.ReportMetric(float64(heap)/float64(b.N)/(1<<20), "MiB-heap/learner")
}

// resetGivesFreshCluster: the learner at sessionURL, whose cluster before is
// and who left ~/mark in their home, clicks "Reset my cluster": the page shows
// the progress view, then the lab page on a cluster other than before, and the
// terminal answers there without the mark.
func resetGivesFreshCluster(t *testing.T, p *platform, c *http.Client, sessionURL, before string) {
	t.Helper()
	sid := sessionID(t, strings.TrimPrefix(sessionURL, p.URL))
	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.PostForm(sessionURL+"/reset", url.Values{"csrf": {pageCSRF(t, c, sessionURL)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset = %d; want 303", resp.StatusCode)
	}
	sawProgress := false
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := c.Get(sessionURL)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(page), `data-testid="progress"`) {
			sawProgress = true
		} else if sawProgress && strings.Contains(string(page), `data-testid="lab-page"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fresh cluster within 5 minutes (saw the progress view: %v)", sawProgress)
		}
		time.Sleep(100 * time.Millisecond) // a warm cluster is the learner's again in seconds
	}
	if after, err := p.db.Session(context.Background(), sid); err != nil || after.Cluster == before {
		t.Errorf("after the reset the session is on cluster %q (%v); want a cluster other than %s", after.Cluster, err, before)
	}
	conn := openTerminal(t, c, sessionURL)
	defer conn.Close()
	// The output (not the echoed command line) says which: STILL2 or FRESH4.
	conn.WriteJSON(map[string]any{"type": "input", "data": "test -e ~/mark && echo STILL$((1+1)) || echo FRESH$((2+2))\r"})
	readUntil(t, conn, "FRESH4")
}

// TestE2EDashboardSeesLearner: an instructor signs in and creates a workshop in
// Chromium; a learner joins and runs step 1 (over HTTP and the terminal
// websocket, as a browser would); the instructor's dashboard cell for that learner
// and step turns green. The delay from the learner's green check to the
// dashboard's is logged.
func TestE2EDashboardSeesLearner(t *testing.T) {
	p := startHandingOver(t)
	ctx, cancel := newBrowser(t)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer tcancel()

	code := openDashboard(t, ctx, p)

	// The learner joins and waits for their cluster.
	lc, sessionURL := joinWorkshop(t, p, code, "Ada")
	sid := sessionURL[strings.LastIndex(sessionURL, "/")+1:]
	events, err := lc.Get(sessionURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	lines := bufio.NewScanner(events.Body)
	waitEvent := func(what string, match func(string) bool) time.Time {
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "data:") && match(lines.Text()) {
				return time.Now()
			}
		}
		t.Fatalf("the learner's event stream ended before %s", what)
		return time.Time{}
	}
	waitEvent("the cluster was ready", func(l string) bool { return strings.Contains(l, `"done":true`) })
	if err := waitJS(ctx, fmt.Sprintf(`!!document.querySelector('[data-testid="row-%s"]')`, sid), 30*time.Second); err != nil {
		t.Fatalf("the learner's row never appeared on the dashboard: %v", err)
	}

	// The learner runs step 1; their check turns green, then the dashboard's cell.
	conn := openTerminal(t, lc, sessionURL)
	defer conn.Close()
	conn.WriteJSON(map[string]any{"type": "input", "data": "kubectl apply -f homepage.yaml\r"})
	green := waitEvent("step 1 passed", func(l string) bool { return strings.Contains(l, `"step":1`) && strings.Contains(l, `"allPassed":true`) })
	cell := fmt.Sprintf(`(document.querySelector('[data-testid="cell-%s-1"]')||{}).dataset?.state === "passed"`, sid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cell)); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dashboard never showed the learner's step 1 as passed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("learner's check green to the dashboard's cell green: %s", time.Since(green).Round(time.Millisecond))

	// Broadcast reaches the learner's page stream.
	if err := doEach(ctx,
		chromedp.SendKeys(chromedp.CSS(`[data-testid="broadcast-text"]`), "Coffee break in 5 minutes"),
		chromedp.Click(chromedp.CSS(`[data-testid="broadcast-submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitEvent("the broadcast", func(l string) bool { return strings.Contains(l, "Coffee break in 5 minutes") })

	// Fast-forward to step 3: the solutions of steps 1 and 2 run in the learner's
	// workstation, and the learner's page moves to step 3.
	ff := fmt.Sprintf(`(() => { const f = document.querySelector('[data-testid="ff-%s"]'); f.querySelector('select').value = "3"; f.querySelector('button[type=submit]').click(); return true })()`, sid)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](ff)); err != nil {
		t.Fatal(err)
	}
	waitEvent("the fast-forward to step 3", func(l string) bool { return strings.Contains(l, `"step":3`) })
	if err := waitJS(ctx, fmt.Sprintf(`(document.querySelector('[data-testid="cell-%s-2"]')||{}).dataset?.state === "passed"`, sid), 30*time.Second); err != nil {
		t.Errorf("step 2 not shown passed after the fast-forward: %v", err)
	}

	// More time for the learner.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { document.querySelector('[data-testid="extend-%s"] button').click(); return true })()`, sid))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `(document.querySelector('[data-testid="toast"]')||{}).textContent?.includes("more minutes")`, 10*time.Second); err != nil {
		t.Errorf("extend: %v", err)
	}

	// Watch the learner's terminal, read-only, with what it showed so far.
	dash, _ := chromedp.Run(ctx, chromedp.Location())
	if err := doEach(ctx, chromedp.Navigate(strings.TrimSuffix(dash, "/")+"/watch/"+sid), chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.connected && window.kindlab.readOnly && window.kindlab.termText().includes("deployment.apps/homepage created")`, 30*time.Second); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
		t.Errorf("read-only watch: %v\n%s", err, text)
	}
}

// openDashboard signs in as the instructor in the browser, creates a workshop
// of services-dns, waits for its live dashboard and returns the join code.
func openDashboard(t *testing.T, ctx context.Context, p *platform) string {
	t.Helper()
	err := doEach(ctx,
		chromedp.Navigate(p.URL+"/instructor"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="instructor-token"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="instructor-token"]`), e2eInstructorToken),
		chromedp.Click(chromedp.CSS(`[data-testid="instructor-login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="workshop-title"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="workshop-title"]`), "Networking morning"),
		chromedp.Click(chromedp.CSS(`[data-testid="lab-option-services-dns"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="join-code"]`)),
	)
	if err != nil {
		t.Fatalf("instructor creates a workshop: %v", err)
	}
	code, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="join-code"]').textContent.trim()`))
	if err != nil || code == "" {
		t.Fatalf("join code: %q, %v", code, err)
	}
	if err := waitJS(ctx, `window.kindlabDashboard && window.kindlabDashboard.connected`, 30*time.Second); err != nil {
		t.Fatalf("dashboard live feed: %v", err)
	}
	return code
}

// joinWorkshop joins the workshop of code as name and returns the learner's
// client and session page, without waiting for the cluster.
func joinWorkshop(t *testing.T, p *platform, code, name string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	lc := &http.Client{Jar: jar, Timeout: 10 * time.Minute}
	resp, err := lc.PostForm(p.URL+"/join/"+code, url.Values{"name": {name}, "csrf": {pageCSRF(t, lc, p.URL+"/join/"+code)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return lc, resp.Request.URL.String()
}

const e2eInstructorToken = "e2e-instructor-token-0123456789"
