//go:build e2e

package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/store/storetest"
)

// TestE2EClusterLost: on services-dns step 2, after step 1's work, the learner's
// node container is killed, stopped and paused in turn (what the OOM killer, a
// Docker restart or a frozen host does to it). Each time kindlab declares the
// cluster lost within 10 s, says so in plain words on the learner's page and in
// their terminal, marks and counts them on the instructor's dashboard, replaces
// the cluster from the pool, redoes step 1 on it and keeps the learner on step 2
// with a working terminal. It logs the time from the fault to usable again.
// Then the Docker engine restarts (restartDockerEngine): the learner's cluster
// comes back with it, and the learner with all their work. Then "Start this
// step again" replaces the cluster on purpose.
func TestE2EClusterLost(t *testing.T) {
	// A pool of its own: the engine restart below reaches every cluster of the pool.
	p := startServer(t, ownScope(t, 1), filepath.Join(t.TempDir(), "kindlab.db"),
		func(c *session.Config) { c.HealthEvery = 2 * time.Second })
	ctx := context.Background()
	bctx, cancel := newBrowser(t)
	defer cancel()
	bctx, tcancel := context.WithTimeout(bctx, 30*time.Minute)
	defer tcancel()
	c, sessionURL := joinWorkshop(t, p, openDashboard(t, bctx, p), "Ada")
	sid := sessionID(t, strings.TrimPrefix(sessionURL, p.URL))
	dashboardShows := func(what, expr string) {
		t.Helper()
		if err := waitJS(bctx, expr, 30*time.Second); err != nil {
			t.Errorf("the dashboard does not show %s: %v", what, err)
		}
	}

	// What the learner's page hears.
	events, err := c.Get(sessionURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	told := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(events.Body)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Your cluster stopped") {
				told <- sc.Text()
			}
		}
	}()
	waitReady(t, p, sid, "")
	conn := openTerminal(t, c, sessionURL)
	sh := &shell{t: t, conn: conn}
	sh.must(`kubectl apply -f homepage.yaml && kubectl rollout status deploy/homepage --timeout=120s`)
	resp, err := c.PostForm(sessionURL+"/step", url.Values{"step": {"2"}, "csrf": {pageCSRF(t, c, sessionURL)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The learner's page in a tab of its own, signed in with the learner's cookies.
	lctx, lcancel := chromedp.NewContext(bctx)
	defer lcancel()
	u, _ := url.Parse(sessionURL)
	for _, ck := range c.Jar.Cookies(u) {
		if _, err := chromedp.Call(lctx, network.SetCookie, network.SetCookieParams{Name: ck.Name, Value: ck.Value, URL: sessionURL, Path: u.Path}); err != nil {
			t.Fatalf("give the learner's tab their cookie: %v", err)
		}
	}
	if err := doEach(lctx, chromedp.Navigate(sessionURL)); err != nil {
		t.Fatalf("open the learner's page: %v", err)
	}
	learnerSees := func(what, expr string, timeout time.Duration) bool {
		t.Helper()
		if err := waitJS(lctx, expr, timeout); err != nil {
			text, _ := chromedp.Run(lctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
			t.Errorf("the learner's page does not show %s: %v\nterminal:\n%s", what, err, text)
			return false
		}
		return true
	}
	learnerSees("a connected terminal", `window.kindlab.connected`, time.Minute)

	faults := []struct{ name, docker string }{
		{"killed", "kill"},
		{"stopped", "stop"},
		{"paused", "pause"},
	}
	for i, fault := range faults {
		before, err := p.db.Session(ctx, sid)
		if err != nil || before.Step != 2 || before.State != store.StateReady {
			t.Fatalf("session before the node was %s: %+v, %v", fault.name, before, err)
		}
		faulted := time.Now()
		if err := injectFault(ctx, p.m.Manager, fault.docker, before.Cluster); err != nil {
			t.Fatalf("docker %s: %v", fault.docker, err)
		}
		// docker stop returns once the node has stopped (systemd's shutdown takes
		// seconds); until then the node runs and a probe that times out may be a
		// busy host's, so kindlab waits: the loss is counted from the node's end.
		ended := time.Now()
		lost := waitEvents(t, p, sid, activity.KindLost, i+1, 30*time.Second)
		t.Logf("node %s: cluster declared lost %s after the fault began, %s after the node ended", fault.name,
			lost.Sub(faulted).Round(100*time.Millisecond), lost.Sub(ended).Round(100*time.Millisecond))
		if lost.Sub(ended) > 10*time.Second {
			t.Errorf("node %s: the lost cluster was noticed %s after its node ended; want within 10 s", fault.name, lost.Sub(ended))
		}
		// The terminal stream never shows a Go error. It ends with kindlab's
		// words when its stream broke or kindlab ended it; a node stopped with
		// SIGTERM can end the shell cleanly first, and then the page writes its
		// message into the ended terminal (asserted in the learner's tab below).
		if out := readToEnd(conn); strings.Contains(out, "dial tcp") {
			t.Errorf("the terminal showed a Go error: %q", out)
		}
		conn.Close()
		select {
		case msg := <-told:
			if !strings.Contains(msg, "step 2") || strings.Contains(msg, "dial tcp") {
				t.Errorf("the page was told %q; want plain words naming step 2", msg)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("node %s: the page was not told the cluster stopped", fault.name)
		}
		learnerSees("the banner", `(document.querySelector('[data-testid="message-text"]')||{}).textContent?.includes("Your cluster stopped")`, 10*time.Second)
		learnerSees("kindlab's words in the terminal", `!window.kindlab.connected && window.kindlab.termText().includes("[kindlab] ")`, 10*time.Second)
		dashboardShows("the lost cluster", fmt.Sprintf(`(document.querySelector('[data-testid="cluster-%s"]')||{}).dataset?.cluster === "recovering" && !!document.querySelector('[data-testid="summary-recovering"]')`, sid))

		recovered := waitEvents(t, p, sid, activity.KindRecovered, i+1, 6*time.Minute)
		after := waitReady(t, p, sid, before.Cluster)
		if after.Step != 2 {
			t.Errorf("session after the recovery is on step %d; want 2", after.Step)
		}
		// The terminal works on the new cluster, and step 1's work is there.
		conn = openTerminal(t, c, sessionURL)
		sh = &shell{t: t, conn: conn}
		if out := sh.must(`kubectl get deploy homepage -o name`); !strings.Contains(out, "deployment.apps/homepage") {
			t.Errorf("step 1's Deployment is not on the new cluster:\n%s", out)
		}
		t.Logf("node %s: fault to usable again (new cluster, step 1 redone, terminal answering): %s (recovered event at %s)", fault.name,
			time.Since(faulted).Round(100*time.Millisecond), recovered.Sub(faulted).Round(100*time.Millisecond))
		if learnerSees("the page reloaded onto the new cluster, its terminal connected", `window.kindlab.connected && window.kindlab.termText().includes("$")`, 2*time.Minute) {
			t.Logf("node %s: fault to a connected terminal in the learner's page: %s", fault.name, time.Since(faulted).Round(100*time.Millisecond))
		}
		dashboardShows("the learner back", fmt.Sprintf(`!document.querySelector('[data-testid="cluster-%s"]') && !document.querySelector('[data-testid="summary-recovering"]')`, sid))
	}

	// The Docker engine restarts under kindlab. The learner's node comes back
	// with it (kind's restart policy), and the learner with it, on step 2 and
	// with all their work: a ConfigMap they made stays.
	restarts := 0 // of the engine
	if why := notOwnEngine(); why != "" {
		t.Logf("engine restart: not done: %s", why)
	} else {
		restarts++
		sh.must(`kubectl create configmap mine --from-literal=made=before`)
		conn.Close()
		before, _ := p.db.Session(ctx, sid)
		restarted := time.Now()
		downFor := restartDockerEngine(t)
		defer shared.renewWarm(t) // the shared pool's warm clusters went down with the engine too
		t.Logf("engine restart: the engine answered again %s after the restart began", downFor.Round(100*time.Millisecond))
		lost := waitEvents(t, p, sid, activity.KindLost, len(faults)+restarts, 2*time.Minute)
		t.Logf("engine restart: cluster declared lost %s after the restart began", lost.Sub(restarted).Round(100*time.Millisecond))
		learnerSees("the banner", `(document.querySelector('[data-testid="message-text"]')||{}).textContent?.includes("with all your work")`, time.Minute)
		dashboardShows("the cluster being waited for", fmt.Sprintf(`(document.querySelector('[data-testid="cluster-%s"]')||{}).dataset?.cluster === "recovering"`, sid))
		recovered := waitEvents(t, p, sid, activity.KindRecovered, len(faults)+restarts, 6*time.Minute)
		if after, err := p.db.Session(ctx, sid); err != nil || after.Cluster != before.Cluster || after.Step != 2 || after.State != store.StateReady {
			t.Errorf("after the engine restart the session is %+v (%v); want ready on the same cluster %s, step 2", after, err, before.Cluster)
		}
		conn = openTerminal(t, c, sessionURL)
		sh = &shell{t: t, conn: conn}
		if out := sh.must(`kubectl get configmap mine -o jsonpath='{.data.made}'`); !strings.Contains(out, "before") {
			t.Errorf("the learner's ConfigMap is not on the cluster that came back:\n%s", out)
		}
		t.Logf("engine restart: restart to usable again (the same cluster, all work kept, terminal answering): %s (recovered event at %s)",
			time.Since(restarted).Round(100*time.Millisecond), recovered.Sub(restarted).Round(100*time.Millisecond))
		if learnerSees("the page reloaded, its terminal connected", `window.kindlab.connected && window.kindlab.termText().includes("$")`, 2*time.Minute) {
			t.Logf("engine restart: restart to a connected terminal in the learner's page: %s", time.Since(restarted).Round(100*time.Millisecond))
		}
		dashboardShows("the learner back", fmt.Sprintf(`!document.querySelector('[data-testid="cluster-%s"]') && !document.querySelector('[data-testid="summary-recovering"]')`, sid))
		// A pool cluster half-made when the engine stopped comes back with it
		// unless deleted: every cluster on the host is one the pool knows.
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
			names, err := p.m.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, cluster.PoolPrefix) })
			st := p.Pool.Stats()
			if len(names) == st.Warm+st.Creating+st.Claimed {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("after the engine restart the host has clusters %v; the pool knows %+v", names, st)
				break
			}
		}
	}

	// The learner breaks their own cluster: that is no platform fault, and
	// "Start this step again" takes the recovery's path on purpose: a fresh
	// cluster, step 1 redone, still on step 2.
	sh.must(`kubectl delete deploy,svc,pods --all --wait=false`)
	time.Sleep(10 * time.Second) // more than the time a lost cluster is noticed in
	if n := countEvents(t, p, sid, activity.KindLost); n != len(faults)+restarts {
		t.Errorf("%d cluster-lost events after the learner deleted their own objects; want %d", n, len(faults)+restarts)
	}
	conn.Close()
	before, _ := p.db.Session(ctx, sid)
	clicked := time.Now()
	resp, err = c.PostForm(sessionURL+"/reset", url.Values{"keep": {"steps"}, "csrf": {pageCSRF(t, c, sessionURL)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitEvents(t, p, sid, activity.KindRecovered, len(faults)+restarts+1, 6*time.Minute)
	if s := waitReady(t, p, sid, before.Cluster); s.Step != 2 {
		t.Errorf("after Start this step again the session is on step %d; want 2", s.Step)
	}
	conn = openTerminal(t, c, sessionURL)
	defer conn.Close()
	if out := (&shell{t: t, conn: conn}).must(`kubectl get deploy homepage -o name`); !strings.Contains(out, "deployment.apps/homepage") {
		t.Errorf("step 1's Deployment is not on the fresh cluster:\n%s", out)
	}
	t.Logf("Start this step again, click to usable: %s", time.Since(clicked).Round(100*time.Millisecond))
}

// waitReady waits until session sid is ready on a cluster other than old.
func waitReady(t *testing.T, p *platform, sid, old string) store.Session {
	t.Helper()
	deadline := time.Now().Add(6 * time.Minute)
	for {
		s, err := p.db.Session(context.Background(), sid)
		if err == nil && s.State == store.StateReady && s.Cluster != "" && s.Cluster != old {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is not ready on a new cluster: %+v, %v", sid, s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readToEnd reads terminal output until the terminal ends or is quiet for a minute.
func readToEnd(conn *websocket.Conn) string {
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	var seen strings.Builder
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			return seen.String()
		}
		if typ == websocket.BinaryMessage && len(data) > 8 {
			seen.Write(data[8:])
		}
	}
}

// eventTimes returns when session sid's events of kind happened, in order.
func eventTimes(t *testing.T, p *platform, sid string, kind activity.Kind) []time.Time {
	t.Helper()
	events, err := p.db.Events(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	for _, e := range events {
		if e.Kind == kind {
			at = append(at, e.At)
		}
	}
	return at
}

// countEvents counts session sid's events of kind.
func countEvents(t *testing.T, p *platform, sid string, kind activity.Kind) int {
	return len(eventTimes(t, p, sid, kind))
}

// waitEvents waits for session sid's n-th event of kind and returns its time.
func waitEvents(t *testing.T, p *platform, sid string, kind activity.Kind, n int, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if at := eventTimes(t, p, sid, kind); len(at) >= n {
			return at[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event #%d within %s", kind, n, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// notOwnEngine says why the Docker engine is not one hack/ensure-docker.sh
// started (CI's), or "" when it is. Only that engine is restarted: one the
// script did not start serves more than these tests.
func notOwnEngine() string {
	own, _ := os.ReadFile("/run/kindlab-dockerd.pid")
	running, _ := os.ReadFile("/var/run/docker.pid")
	if len(own) == 0 || strings.TrimSpace(string(own)) != strings.TrimSpace(string(running)) {
		return fmt.Sprintf("the Docker engine (pid %q) was not started by hack/ensure-docker.sh (%q), and may serve more than these tests", running, own)
	}
	return ""
}

// restartDockerEngine stops the Docker engine hack/ensure-docker.sh started
// with SIGTERM, as a host's service manager does, starts it again with that
// script and returns how long it took to answer again.
func restartDockerEngine(t *testing.T) time.Duration {
	t.Helper()
	running, _ := os.ReadFile("/var/run/docker.pid")
	pid, err := strconv.Atoi(strings.TrimSpace(string(running)))
	if err != nil {
		t.Fatalf("dockerd's pid file: %v", err)
	}
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop dockerd %d: %v", pid, err)
	}
	for alive(pid) {
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("dockerd %d did not stop within 3 minutes", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command("bash", "../hack/ensure-docker.sh").CombinedOutput(); err != nil {
		t.Fatalf("start dockerd again: %v\n%s", err, out)
	}
	return time.Since(start)
}

// alive tells whether process pid runs (a zombie does not: this test is not
// dockerd's parent, and PID 1 may be slow to reap it).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// kindlabProcess is `kindlab serve` run as its own process, so a test can kill
// it with SIGKILL.
type kindlabProcess struct {
	bin, addr, state, log string
	args                  []string // serve's flags besides --addr and --state
	cmd                   *exec.Cmd
}

// newKindlabProcess picks an address for a kindlab process of the package's
// kindlab binary; start runs it. Its log is shown when the test fails.
func newKindlabProcess(t testing.TB, args ...string) *kindlabProcess {
	t.Helper()
	return anotherKindlab(t, shared.kindlabBinary(t), args...)
}

// anotherKindlab is one more kindlab process of the binary bin, with a state
// folder and an address of its own.
func anotherKindlab(t testing.TB, bin string, args ...string) *kindlabProcess {
	t.Helper()
	dir := t.TempDir()
	k := &kindlabProcess{bin: bin, state: filepath.Join(dir, "state"), log: filepath.Join(dir, "kindlab.log"), args: args}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = ln.Addr().String()
	ln.Close()
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(k.log)
			t.Logf("kindlab's log (%s):\n%s", k.addr, out)
		}
	})
	return k
}

func (k *kindlabProcess) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(k.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	k.cmd = exec.Command(k.bin, append([]string{"serve", "--addr", k.addr, "--state", k.state}, k.args...)...)
	k.cmd.Dir = ".." // the source tree, whose images it runs
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := k.cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := http.Get("http://" + k.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(k.log)
			t.Fatalf("kindlab serve did not answer:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (k *kindlabProcess) kill(t testing.TB) {
	t.Helper()
	if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	k.cmd.Wait()
}

// TestE2EKindlabKilled: kindlab serve, a process of its own, is killed with
// SIGKILL at two points of a learner's start: while the pool creates the
// cluster the learner waits for, and as the learner's session takes the
// cluster. Each time kindlab started again on the same state removes the
// half-made cluster and resumes the learner's start; the learner ends on a
// working terminal, and no cluster is left behind.
func TestE2EKindlabKilled(t *testing.T) {
	m := newManager(t) // and its clean-up of every pool cluster
	k := newKindlabProcess(t, "--pool-warm", "0", "--pool-max", "2")
	ctx := context.Background()
	base := "http://" + k.addr
	k.start(t)

	// The learner clicks Start; no cluster is warm, so the pool makes one.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := c.PostForm(base+"/labs/services-dns/start", url.Values{"csrf": {pageCSRF(t, c, base+"/")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sessionURL := resp.Request.URL.String()
	sid := sessionID(t, strings.TrimPrefix(sessionURL, base))
	db, err := store.Open(ctx, filepath.Join(k.state, "kindlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	poolClusters := func() []string {
		names, err := m.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, cluster.PoolPrefix) })
	}

	// 1. Killed while the cluster is being created.
	var halfMade []string
	for deadline := time.Now().Add(time.Minute); len(halfMade) == 0; time.Sleep(200 * time.Millisecond) {
		if halfMade = poolClusters(); time.Now().After(deadline) {
			t.Fatal("the pool did not start creating a cluster")
		}
	}
	time.Sleep(5 * time.Second) // well into kind's create
	k.kill(t)
	t.Logf("killed while %v was being created", halfMade)
	restarted := time.Now()
	k.start(t)

	// 2. Killed as the session takes its cluster.
	var caught store.Session
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		s, err := db.Session(ctx, sid)
		if err == nil && s.Cluster != "" {
			caught = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the start was not resumed after the restart: %+v, %v", s, err)
		}
	}
	k.kill(t)
	t.Logf("start resumed after the first kill: cluster %s taken %s after the restart; killed again with the session %s",
		caught.Cluster, time.Since(restarted).Round(100*time.Millisecond), caught.State)
	if slices.Contains(halfMade, caught.Cluster) {
		t.Errorf("the half-made cluster %s was handed to the learner", caught.Cluster)
	}
	restarted = time.Now()
	k.start(t)

	var final store.Session
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		s, err := db.Session(ctx, sid)
		if err == nil && s.State == store.StateReady && s.Cluster != "" {
			final = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the start was not resumed after the second kill: %+v, %v", s, err)
		}
	}
	conn := openTerminal(t, c, sessionURL)
	defer conn.Close()
	if out := (&shell{t: t, conn: conn}).must(`kubectl get nodes -o name`); !strings.Contains(out, "node/") {
		t.Errorf("the terminal does not reach the cluster:\n%s", out)
	}
	t.Logf("second restart to a working terminal: %s (session %s on %s)", time.Since(restarted).Round(100*time.Millisecond), final.State, final.Cluster)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		left := poolClusters()
		if slices.Equal(left, []string{final.Cluster}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("clusters on the host: %v; want only the learner's %s", left, final.Cluster)
		}
	}
}

// TestE2EKindlabKilledTerminalKept: a learner in Chromium is at work on
// services-dns, with kindlab keeping its state in PostgreSQL, when kindlab is
// killed (SIGKILL) and started again. The open page's terminal reconnects to
// a new shell that starts with the learner's earlier output, shown once, says
// it is a new shell, and has their command history; a reload of the page
// shows the same; step 1's Run button turns green.
func TestE2EKindlabKilledTerminalKept(t *testing.T) {
	newManager(t) // its clean-up deletes the clusters this kindlab makes
	// --pool-max 1: no refill after the learner's claim, a cluster the test
	// would never use (and that the restart would delete as an orphan).
	k := newKindlabProcess(t, "--db", storetest.Postgres(t), "--pool-warm", "1", "--pool-max", "1")
	k.start(t)
	base := "http://" + k.addr
	ctx, cancel := newBrowser(t)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 15*time.Minute)
	defer tcancel()
	terminal := func() string { return termText(ctx) }
	startLabAt(t, ctx, base, 5*time.Minute)
	output := leaveOutput(t, ctx)

	k.kill(t)
	killed := time.Now()
	k.start(t)
	if err := waitNewShell(ctx); err != nil {
		t.Fatalf("the open page's terminal after the restart: %v\n%s", err, terminal())
	}
	t.Logf("killed kindlab to the open page's new shell with the earlier output: %s", time.Since(killed).Round(100*time.Millisecond))
	newShellKept(t, ctx, output)

	// A reload shows the same terminal.
	if err := doEach(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.connected && window.kindlab.termText().includes("hist=1")`, time.Minute); err != nil {
		t.Fatalf("the terminal after a reload: %v\n%s", err, terminal())
	}
	if text := terminal(); strings.Count(text, output) != 1 || !strings.Contains(text, session.NewShellText) {
		t.Errorf("after a reload, the earlier output %q shows %d times (want once), the new shell's notice %v:\n%s",
			output, strings.Count(text, output), strings.Contains(text, session.NewShellText), text)
	}

	// The learner carries on: step 1's Run button, its check green.
	clicked := time.Now()
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, checkStatus("homepage-ready")+` === "pass"`, 3*time.Minute); err != nil {
		t.Fatalf("step 1 after the restart: %v\n%s", err, terminal())
	}
	t.Logf("step 1 after the restart, Run click to green: %s", time.Since(clicked).Round(time.Millisecond))
}

// TestE2EReplicaKilled: two kindlab replicas share a PostgreSQL database and
// the host's Docker engine behind one address (a proxy in the test, as a
// load balancer). A learner in Chromium starts services-dns on replica a and
// types a command; a is killed (SIGKILL) and the address now leads to b. The
// learner's open page reconnects through b, which finds a gone, takes the
// session over on its cluster and step, and starts a new shell with the
// learner's earlier output (shown once) and command history; step 1's Run
// button turns green.
func TestE2EReplicaKilled(t *testing.T) {
	newManager(t) // its clean-up deletes the clusters the replicas make
	db := storetest.Postgres(t)
	// a's --pool-max 1: no refill after the learner's claim (nobody else starts).
	a := newKindlabProcess(t, "--db", db, "--replica", "a", "--replica-lease", "6s", "--pool-warm", "1", "--pool-max", "1")
	a.args = append(a.args, "--replica-url", "http://"+a.addr)
	b := anotherKindlab(t, a.bin, "--db", db, "--replica", "b", "--replica-lease", "6s", "--pool-warm", "0", "--pool-max", "2")
	b.args = append(b.args, "--replica-url", "http://"+b.addr)
	a.start(t)
	b.start(t)
	var mu sync.Mutex
	target := a.addr
	front := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		mu.Lock()
		pr.SetURL(&url.URL{Scheme: "http", Host: target})
		mu.Unlock()
		pr.Out.Host = pr.In.Host
	}, FlushInterval: -1})
	defer front.Close()

	ctx, cancel := newBrowser(t)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 15*time.Minute)
	defer tcancel()
	terminal := func() string { return termText(ctx) }
	startLabAt(t, ctx, front.URL, 5*time.Minute)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	sid := sessionID(t, strings.TrimPrefix(loc, front.URL))
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before, err := st.Session(context.Background(), sid)
	if err != nil || before.Owner != "a" {
		t.Fatalf("the learner's session: %+v, %v; want it run by replica a", before, err)
	}
	output := leaveOutput(t, ctx)

	a.kill(t)
	killed := time.Now()
	mu.Lock()
	target = b.addr // the load balancer finds a gone
	mu.Unlock()
	if err := waitNewShell(ctx); err != nil {
		t.Fatalf("the open page's terminal after replica a was killed: %v\n%s", err, terminal())
	}
	t.Logf("replica a killed to the learner's terminal back through b: %s", time.Since(killed).Round(100*time.Millisecond))
	after, err := st.Session(context.Background(), sid)
	if err != nil || after.Owner != "b" || after.Cluster != before.Cluster || after.Step != before.Step {
		t.Errorf("the session after a was killed: %+v, %v; want it run by b, on cluster %s and step %d", after, err, before.Cluster, before.Step)
	}
	newShellKept(t, ctx, output)
	clicked := time.Now()
	if err := doEach(ctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, checkStatus("homepage-ready")+` === "pass"`, 3*time.Minute); err != nil {
		t.Fatalf("step 1 through replica b: %v\n%s", err, terminal())
	}
	t.Logf("step 1 through replica b, Run click to green: %s", time.Since(clicked).Round(time.Millisecond))
}

// termText is the learner's terminal as the page shows it.
func termText(ctx context.Context) string {
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.kindlab.termText()`))
	return text
}

// leaveOutput types a command into the learner's terminal, waits for its
// output and long enough for kindlab to have written it to the store, and
// returns the output.
func leaveOutput(t *testing.T, ctx context.Context) string {
	t.Helper()
	const output = "before-42-123"
	if err := typeKeys(ctx, "echo before-$((6*7))-$((100+23))\r"); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.termText().includes("`+output+`")`, time.Minute); err != nil {
		t.Fatalf("the command's output: %v\n%s", err, termText(ctx))
	}
	time.Sleep(3 * time.Second) // kindlab writes the terminal's output every second
	return output
}

// waitNewShell waits until the open page's terminal has reconnected, without
// a reload, to a new shell that shows the earlier output above it; its error
// says where the terminal client stands.
func waitNewShell(ctx context.Context) error {
	err := waitJS(ctx, `window.kindlab.reconnects >= 1 && window.kindlab.connected && window.kindlab.termText().includes(`+strconv.Quote(session.NewShellText)+`)`, 3*time.Minute)
	if err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({state: window.kindlab.state, connected: window.kindlab.connected, reconnects: window.kindlab.reconnects, eventsConnected: window.kindlab.eventsConnected, lastEvent: window.kindlab.lastEvent, navigations: performance.getEntriesByType("navigation").map((n) => n.type)})`))
		return fmt.Errorf("%w (terminal client: %s)", err, state)
	}
	return nil
}

// newShellKept checks the learner's new shell: the earlier output shows once,
// and the command that printed it is in the shell's history.
func newShellKept(t *testing.T, ctx context.Context, output string) {
	t.Helper()
	if text := termText(ctx); strings.Count(text, output) != 1 {
		t.Errorf("the earlier output %q shows %d times in the new shell's terminal; want once:\n%s", output, strings.Count(text, output), text)
	}
	if err := typeKeys(ctx, `echo "hist=$(history | grep -c 'before-\$((6')"`+"\r"); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(ctx, `window.kindlab.termText().includes("hist=1")`, time.Minute); err != nil {
		t.Errorf("the new shell's history: %v\n%s", err, termText(ctx))
	}
}

// injectFault runs docker verb on the cluster's node; a pause goes through
// kindlab's own, which tries again when the cgroup v1 freezer gives up
// ("unable to freeze", the node left running).
func injectFault(ctx context.Context, m *cluster.Manager, verb, name string) error {
	if verb == "pause" {
		return m.Pause(ctx, name)
	}
	if out, err := exec.Command("docker", verb, name+"-control-plane").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}
