package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/session/sessiontest"
	"github.com/kindlab/kindlab/server/store"
)

// newClusterServer serves the built-in labs with fake clusters that come at once.
func newClusterServer(t *testing.T) (*httptest.Server, *Server, *sessiontest.Clusters) {
	t.Helper()
	cat, st := builtinLabsAndMemoryStore(t)
	clusters := sessiontest.New(t, nil)
	srv := serve(t, Config{Catalog: cat, Store: st, InstructorToken: testInstructorToken},
		session.Config{Pool: clusters, Clusters: clusters, Connect: clusters.Connect})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, srv, clusters
}

// readyLearner waits until the session at sessionURL has its cluster.
func readyLearner(t *testing.T, srv *Server, sessionURL string) string {
	t.Helper()
	sid := strings.TrimPrefix(mustURL(t, sessionURL).Path, "/s/")
	// Ready and done provisioning: a reset asked for while a provision is under
	// way is not taken (a fresh cluster is already coming).
	waitFor(t, "the learner's cluster", func() bool {
		l, ok := srv.sessions.Get(sid)
		return ok && l.Session().State == store.StateReady && l.Progress().Done
	})
	return sid
}

// currentStep reads the step the lab page shows.
func currentStep(t *testing.T, c *http.Client, sessionURL string) string {
	t.Helper()
	resp, doc := get(t, c, sessionURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lab page = %d", resp.StatusCode)
	}
	page := byTestID(doc, "lab-page")
	if page == nil {
		t.Fatal("no lab page (still provisioning?)")
	}
	return attr(page, "data-step")
}

// TestStepChangeIsAPost: the learner moves between steps by posting the step; a
// GET with ?step= (an old link, a prefetch) shows the page and changes nothing.
func TestStepChangeIsAPost(t *testing.T) {
	ts, srv, _ := newClusterServer(t)
	c := browser(t)
	sessionURL := startLab(t, ts, c)
	sid := readyLearner(t, srv, sessionURL)
	if got := currentStep(t, c, sessionURL); got != "1" {
		t.Fatalf("first page shows step %s; want 1", got)
	}
	csrf := csrfFor(t, c, sessionURL)
	tests := []struct {
		name     string
		step     string
		csrf     string
		status   int
		wantStep string
	}{
		{name: "next step", step: "2", csrf: csrf, status: http.StatusSeeOther, wantStep: "2"},
		{name: "back to the first", step: "1", csrf: csrf, status: http.StatusSeeOther, wantStep: "1"},
		{name: "no such step", step: "99", csrf: csrf, status: http.StatusBadRequest, wantStep: "1"},
		{name: "not a number", step: "two", csrf: csrf, status: http.StatusBadRequest, wantStep: "1"},
		{name: "forged form", step: "3", csrf: "forged-token-0123456789", status: http.StatusForbidden, wantStep: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := postForm(t, c, sessionURL+"/step", url.Values{"step": {tt.step}, "csrf": {tt.csrf}})
			if resp.StatusCode != tt.status {
				t.Errorf("POST step %s = %d; want %d", tt.step, resp.StatusCode, tt.status)
			}
			if got := currentStep(t, c, sessionURL); got != tt.wantStep {
				t.Errorf("page shows step %s; want %s", got, tt.wantStep)
			}
		})
	}
	if resp, _ := get(t, c, sessionURL+"?step=3"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET ?step=3 = %d", resp.StatusCode)
	}
	l, _ := srv.sessions.Get(sid)
	if s := l.Session().Step; s != 1 {
		t.Errorf("after GET ?step=3 the session is at step %d; want 1", s)
	}
	// Another browser cannot move the learner.
	other := browser(t)
	resp, _ := postForm(t, other, sessionURL+"/step", url.Values{"step": {"2"}, "csrf": {csrfFor(t, other, ts.URL+"/")}})
	if resp.StatusCode != http.StatusForbidden || l.Session().Step != 1 {
		t.Errorf("another browser's step POST = %d, step now %d; want 403 and step 1", resp.StatusCode, l.Session().Step)
	}
}

// TestInstructorResetsALearner: the instructor's Reset button gives a workshop
// learner a fresh cluster and gives the old one back.
func TestInstructorResetsALearner(t *testing.T) {
	ts, srv, clusters := newClusterServer(t)
	instr, dash, joinURL := instructorWithWorkshop(t, ts, "Room", "5")
	learner := browser(t)
	join := ts.URL + mustURL(t, joinURL).Path
	resp, body := postForm(t, learner, join, url.Values{"name": {"Ada"}, "csrf": {csrfFor(t, learner, join)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("join = %d\n%s", resp.StatusCode, body)
	}
	sessionURL := ts.URL + resp.Header.Get("Location")
	sid := readyLearner(t, srv, sessionURL)
	l, _ := srv.sessions.Get(sid)
	old := l.Session().Cluster

	csrf := csrfFor(t, instr, dash)
	resp, body = postForm(t, instr, dash+"learners/"+sid+"/reset", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, "Ada") {
		t.Fatalf("reset = %d %s; want 202 naming Ada", resp.StatusCode, body)
	}
	waitFor(t, "a fresh cluster", func() bool {
		s := l.Session()
		return s.State == store.StateReady && s.Cluster != "" && s.Cluster != old
	})
	waitFor(t, "the old cluster given back", func() bool {
		for _, n := range clusters.Released() {
			if n == old {
				return true
			}
		}
		return false
	})
	// The learner's own browser cannot use the instructor's action.
	resp, _ = postForm(t, learner, dash+"learners/"+sid+"/reset", url.Values{"csrf": {csrfFor(t, learner, join)}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("reset from the learner's browser = %d; want 403", resp.StatusCode)
	}
}

// TestDashboardHasAGridPerLab: in a workshop of two labs, each learner shows in
// the grid of the lab they picked, with that lab's steps.
func TestDashboardHasAGridPerLab(t *testing.T) {
	ts := newWorkshopServer(t)
	instr := browser(t)
	resp, _ := postForm(t, instr, ts.URL+"/instructor/login", url.Values{"token": {testInstructorToken}, "csrf": {csrfFor(t, instr, ts.URL+"/instructor")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login = %d", resp.StatusCode)
	}
	resp, body := postForm(t, instr, ts.URL+"/instructor/workshops", url.Values{"title": {"Two labs"}, "lab": {"numbers", "services-dns"},
		"capacity": {"5"}, "duration": {"60"}, "csrf": {csrfFor(t, instr, ts.URL+"/instructor")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create = %d\n%s", resp.StatusCode, body)
	}
	dash := ts.URL + resp.Header.Get("Location") + "/"
	_, doc := get(t, instr, dash)
	join := attr(byTestID(doc, "join-url"), "href")
	join = ts.URL + mustURL(t, join).Path
	for _, who := range []struct{ name, lab string }{{"Ada", "numbers"}, {"Grace", "services-dns"}} {
		c := browser(t)
		resp, body := postForm(t, c, join, url.Values{"name": {who.name}, "lab": {who.lab}, "csrf": {csrfFor(t, c, join)}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("join as %s = %d\n%s", who.name, resp.StatusCode, body)
		}
	}
	_, doc = get(t, instr, dash)
	for _, tt := range []struct{ lab, learner, other, steps string }{
		{lab: "numbers", learner: "Ada", other: "Grace", steps: "6"},
		{lab: "services-dns", learner: "Grace", other: "Ada", steps: "8"},
	} {
		grid := byTestID(doc, "lab-grid-"+tt.lab)
		if grid == nil {
			t.Fatalf("no grid for %s", tt.lab)
		}
		text := textOf(grid)
		if !strings.Contains(text, tt.learner) || strings.Contains(text, tt.other) {
			t.Errorf("grid of %s shows %q; want %s and not %s", tt.lab, text, tt.learner, tt.other)
		}
		if got := attr(byTestID(grid, "grid-live"), "data-steps"); got != tt.steps {
			t.Errorf("grid of %s has %s steps; want %s", tt.lab, got, tt.steps)
		}
	}
}

// TestStartThisStepAgain: the lab page's "Start this step again" button gives
// the learner a fresh cluster, gives the old one back and keeps them on their
// step; the page tells them so in plain words.
func TestStartThisStepAgain(t *testing.T) {
	ts, srv, clusters := newClusterServer(t)
	c := browser(t)
	sessionURL := startLab(t, ts, c)
	sid := readyLearner(t, srv, sessionURL)
	l, _ := srv.sessions.Get(sid)
	old := l.Session().Cluster
	_, page := get(t, c, sessionURL)
	if byTestID(page, "restart-step") == nil {
		t.Fatal("the lab page has no Start this step again button")
	}
	events, unsubscribe := l.Subscribe()
	defer unsubscribe()
	resp, _ := postForm(t, c, sessionURL+"/reset", url.Values{"keep": {"steps"}, "csrf": {csrfFor(t, c, sessionURL)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST reset keep=steps = %d; want 303", resp.StatusCode)
	}
	waitFor(t, "a fresh cluster", func() bool {
		s := l.Session()
		return s.State == store.StateReady && s.Cluster != "" && s.Cluster != old
	})
	if s := l.Session().Step; s != 1 {
		t.Errorf("step after the restart = %d; want 1", s)
	}
	waitFor(t, "the old cluster given back", func() bool { return slices.Contains(clusters.Released(), old) })
	told := false
	for !told {
		select {
		case e := <-events:
			if m, ok := e.Data.(session.Message); ok && strings.Contains(m.Text, "back at the start of step 1") {
				told = true
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the page was not told what happens")
		}
	}
}

// TestLearnerEndsTheirSession: the completion screen's "End this session"
// button frees the cluster at once; the session's pages are gone after it, a
// post without the form's token changes nothing, and another browser cannot
// end it.
func TestLearnerEndsTheirSession(t *testing.T) {
	ts, srv, clusters := newClusterServer(t)
	c := browser(t)
	sessionURL := startLab(t, ts, c)
	sid := readyLearner(t, srv, sessionURL)
	l, _ := srv.sessions.Get(sid)
	name := l.Session().Cluster
	_, page := get(t, c, sessionURL+"/complete")
	if byTestID(page, "end-session") == nil {
		t.Fatal("the completion screen has no End this session button")
	}
	if resp, _ := postForm(t, c, sessionURL+"/end", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("end with a forged csrf = %d; want 403", resp.StatusCode)
	}
	other := browser(t)
	if resp, _ := postForm(t, other, sessionURL+"/end", url.Values{"csrf": {csrfFor(t, other, ts.URL+"/")}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("end from another browser = %d; want 403", resp.StatusCode)
	}
	if _, ok := srv.sessions.Get(sid); !ok {
		t.Fatal("a refused end ended the session")
	}
	resp, _ := postForm(t, c, sessionURL+"/end", url.Values{"csrf": {csrfFor(t, c, sessionURL)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("end = %d to %q; want 303 to the catalog", resp.StatusCode, resp.Header.Get("Location"))
	}
	waitFor(t, "the cluster given back", func() bool { return slices.Contains(clusters.Released(), name) })
	if resp, _ := get(t, c, sessionURL); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the lab page after the end = %d; want 404", resp.StatusCode)
	}
}

// TestWarmStartLandsOnTheLab: with a warm cluster in the pool, Start answers
// once the session is ready, so the browser's first page is the lab with its
// terminal, not the progress page and a reload. (With none warm, Start answers
// at once with the progress page: TestCatalogAndStart.)
func TestWarmStartLandsOnTheLab(t *testing.T) {
	ts, _, clusters := newClusterServer(t)
	clusters.SetWarm(1)
	c := browser(t)
	_, page := get(t, c, startLab(t, ts, c))
	if byTestID(page, "terminal") == nil || byTestID(page, "progress") != nil {
		t.Errorf("the first page after a warm Start: terminal %v, progress %v; want the terminal only",
			byTestID(page, "terminal") != nil, byTestID(page, "progress") != nil)
	}
}
