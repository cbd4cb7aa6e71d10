package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/html"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/session/sessiontest"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/workshop"
	"github.com/kindlab/kindlab/web"
)

const testInstructorToken = "let-me-teach-0123456789"

func newWorkshopServer(t *testing.T) *httptest.Server {
	return newTestServerWith(t, testInstructorToken)
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// csrfFor loads a page and returns its csrf field.
func csrfFor(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	_, doc := get(t, c, u)
	return csrfOf(t, doc)
}

// instructorWithWorkshop signs in and creates a workshop; it returns the
// instructor's browser and the workshop's dashboard URL and join URL.
func instructorWithWorkshop(t *testing.T, ts *httptest.Server, title string, capacity string) (*http.Client, string, string) {
	t.Helper()
	c := browser(t)
	resp, _ := postForm(t, c, ts.URL+"/instructor/login", url.Values{"token": {testInstructorToken}, "csrf": {csrfFor(t, c, ts.URL+"/instructor")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login = %d; want 303", resp.StatusCode)
	}
	resp, body := postForm(t, c, ts.URL+"/instructor/workshops", url.Values{"title": {title}, "lab": {"services-dns"},
		"capacity": {capacity}, "duration": {"60"}, "csrf": {csrfFor(t, c, ts.URL+"/instructor")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create workshop = %d; want 303\n%s", resp.StatusCode, body)
	}
	dash := ts.URL + resp.Header.Get("Location") + "/"
	resp, doc := get(t, c, dash)
	if resp.StatusCode != 200 {
		t.Fatalf("dashboard = %d", resp.StatusCode)
	}
	join := ""
	if n := byTestID(doc, "join-url"); n != nil {
		join = attr(n, "href")
	}
	return c, dash, join
}

func TestInstructorLogin(t *testing.T) {
	ts := newWorkshopServer(t)
	c := browser(t)
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{name: "forged token", token: "guess", status: http.StatusForbidden},
		{name: "missing token", token: "", status: http.StatusForbidden},
		{name: "the server's token", token: testInstructorToken, status: http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postForm(t, c, ts.URL+"/instructor/login", url.Values{"token": {tt.token}, "csrf": {csrfFor(t, c, ts.URL+"/instructor")}})
			if resp.StatusCode != tt.status {
				t.Errorf("login with %s = %d; want %d", tt.name, resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusForbidden && !strings.Contains(body, "not the instructor token") {
				t.Errorf("refused login does not say why:\n%s", body)
			}
		})
	}
	// Without signing in, nobody creates workshops.
	anon := browser(t)
	resp, _ := postForm(t, anon, ts.URL+"/instructor/workshops", url.Values{"title": {"x"}, "lab": {"numbers"}, "capacity": {"5"}, "duration": {"60"}, "csrf": {csrfFor(t, anon, ts.URL+"/")}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("create workshop signed out = %d; want 403", resp.StatusCode)
	}
}

// TestWorkshopAuthorization: one workshop's instructor cannot see another's, and
// learners cannot reach instructor endpoints.
func TestWorkshopAuthorization(t *testing.T) {
	ts := newWorkshopServer(t)
	_, dashA, _ := instructorWithWorkshop(t, ts, "Morning room", "10")
	instrB, dashB, _ := instructorWithWorkshop(t, ts, "Afternoon room", "10")
	learnerBrowser := browser(t)
	startLab(t, ts, learnerBrowser)

	for _, tc := range []struct {
		name string
		c    *http.Client
		url  string
	}{
		{name: "instructor B on A's dashboard", c: instrB, url: dashA},
		{name: "instructor B on A's export", c: instrB, url: dashA + "export.csv"},
		{name: "a learner on A's dashboard", c: learnerBrowser, url: dashA},
		{name: "a learner on B's live feed", c: learnerBrowser, url: dashB + "live"},
		{name: "no cookies at all", c: browser(t), url: dashB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.c.Get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("GET %s = %d; want 403", tc.url, resp.StatusCode)
			}
		})
	}
	resp, _ := postForm(t, learnerBrowser, dashA+"broadcast", url.Values{"text": {"hi"}, "csrf": {csrfFor(t, learnerBrowser, ts.URL+"/")}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("learner broadcast = %d; want 403", resp.StatusCode)
	}
}

func TestJoin(t *testing.T) {
	ts := newWorkshopServer(t)
	instr, dash, _ := instructorWithWorkshop(t, ts, "Tiny room", "2")
	_, page := get(t, instr, dash)
	code := strings.TrimSpace(textOf(byTestID(page, "join-code")))
	if code == "" {
		t.Fatal("dashboard shows no join code (data-testid=join-code, data-code)")
	}
	join := ts.URL + "/join/" + code
	tests := []struct {
		name   string
		who    string
		status int
		says   string
	}{
		{name: "first learner", who: "Ada", status: http.StatusSeeOther},
		{name: "same name, other case", who: " ada ", status: http.StatusConflict, says: "already uses that name"},
		{name: "empty name", who: "  ", status: http.StatusBadRequest, says: "Use a name"},
		{name: "second learner", who: "Grace", status: http.StatusSeeOther},
		{name: "room full", who: "Linus", status: http.StatusConflict, says: "full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := browser(t)
			resp, body := postForm(t, c, join, url.Values{"name": {tt.who}, "csrf": {csrfFor(t, c, join)}})
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.says) {
				t.Errorf("join as %q = %d; want %d saying %q\n%.300s", tt.who, resp.StatusCode, tt.status, tt.says, body)
			}
		})
	}
	resp, err := browser(t).Get(ts.URL + "/join/NOPE99")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown code = %d; want 404", resp.StatusCode)
	}
	// The joins are in the export, with the learners' names.
	resp, err = instr.Get(dash + "export.csv")
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Ada", "Grace", "join"} {
		if !strings.Contains(string(csv), want) {
			t.Errorf("export.csv lacks %q:\n%s", want, csv)
		}
	}
}

func textOf(n *html.Node) string {
	if n == nil {
		return ""
	}
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(textOf(c))
	}
	return b.String()
}

// TestDashboardLoad200 is a bounded load test of the live dashboard: 200 simulated
// learners send 10 events each through the server (as their checks and steps
// would) while 3 dashboards watch over real websockets on 127.0.0.1. Every
// dashboard must see the last event's effect; the fan-out latency (event recorded
// to the next grid message a dashboard receives) is logged.
func TestDashboardLoad200(t *testing.T) {
	if raceDetector {
		t.Skip("a load test: make unit runs it without the race detector")
	}
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, _ := store.Open(ctx, filepath.Join(t.TempDir(), "load.db"))
	srv := serve(t, Config{Catalog: cat, Store: st, InstructorToken: testInstructorToken},
		session.Config{Pool: waitingPool{}, Clusters: sessiontest.New(t, nil)})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	ws, token, err := srv.board.Registry.Create(ctx, "Load", []string{"services-dns"}, 200, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const learners, perLearner, dashboards = 200, 10, 3
	finalRE := regexp.MustCompile(fmt.Sprintf(`attempt %d of s\d{3}`, perLearner-1))
	got := make([]chan time.Time, dashboards)
	for i := range dashboards {
		conn := dialDashboard(t, ts.URL, ws.ID, token)
		got[i] = make(chan time.Time, 10000)
		go func(c chan time.Time) {
			for {
				var m struct{ Type, HTML string }
				if err := conn.ReadJSON(&m); err != nil {
					close(c)
					return
				}
				// Current means every learner's latest message is their final one.
				if m.Type == "grid" {
					final := map[string]bool{}
					for _, f := range finalRE.FindAllString(m.HTML, -1) {
						final[f] = true
					}
					if len(final) == learners {
						c <- time.Now()
					}
				}
			}
		}(got[i])
	}
	start := time.Now()
	var wg sync.WaitGroup
	sent := make(chan time.Time, learners*perLearner)
	for i := range learners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid := fmt.Sprintf("s%03d", i)
			srv.sessions.Record(ctx, activity.Event{At: srv.Clock.Now(), Workshop: ws.ID, Session: sid, Kind: activity.KindJoin, Name: fmt.Sprintf("learner-%d", i)})
			for k := 1; k < perLearner; k++ {
				srv.sessions.Record(ctx, activity.Event{At: srv.Clock.Now(), Workshop: ws.ID, Session: sid, Kind: activity.KindCheck, Step: 1,
					CheckID: "homepage-ready", Status: "fail", Message: fmt.Sprintf("attempt %d of %s", k, sid)})
				sent <- time.Now()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(sent)
	var last time.Time
	for at := range sent {
		if at.After(last) {
			last = at
		}
	}
	var lags []time.Duration
	for i, c := range got {
		select {
		case at, ok := <-c:
			if !ok {
				t.Fatalf("dashboard %d was disconnected", i)
			}
			lags = append(lags, max(0, at.Sub(last)))
		case <-time.After(10 * time.Second):
			t.Fatalf("dashboard %d did not show the final state within 10s", i)
		}
	}
	t.Logf("%d events from %d learners in %s; dashboards current %v after the last event",
		learners*perLearner, learners, last.Sub(start).Round(time.Millisecond), lags)
}

// TestDashboardCapacityMemory: the dashboard's capacity says the memory free
// where learner clusters run when the backend knows it, and nothing (the
// page shows a dash) when it does not, as on a host cluster.
func TestDashboardCapacityMemory(t *testing.T) {
	for _, c := range []struct {
		name string
		free func() (int, bool)
		want string
	}{
		{"known", func() (int, bool) { return 2048, true }, "2048"},
		{"not known", func() (int, bool) { return 0, false }, "null"},
		{"no backend to ask", nil, "null"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cat, st := builtinLabsAndMemoryStore(t)
			srv := serve(t, Config{Catalog: cat, Store: st, InstructorToken: testInstructorToken, FreeMemory: c.free},
				session.Config{Pool: waitingPool{}, Clusters: sessiontest.New(t, nil)})
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			ws, token, err := srv.board.Registry.Create(context.Background(), "Room", []string{"services-dns"}, 5, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			conn := dialDashboard(t, ts.URL, ws.ID, token)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				var m map[string]json.RawMessage
				if err := conn.ReadJSON(&m); err != nil {
					t.Fatalf("no capacity message: %v", err)
				}
				if string(m["type"]) == `"capacity"` {
					if got := string(m["memAvailableMiB"]); got != c.want {
						t.Errorf("memAvailableMiB = %s; want %s", got, c.want)
					}
					return
				}
			}
		})
	}
}

// dialDashboard opens workshop wsID's live dashboard at base as its
// instructor (token) would; the connection is closed when t ends.
func dialDashboard(t *testing.T, base, wsID, token string) *websocket.Conn {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	jar.SetCookies(u, []*http.Cookie{{Name: workshopCookie(wsID), Value: token, Path: "/"}})
	d := websocket.Dialer{Jar: jar}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/w/"+wsID+"/live", http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestGridViewNamesEveryState: every state the workshop's grid has reaches
// the dashboard as one the view knows (a name changed on one side alone
// would show a learner's cell or cluster as nothing).
func TestGridViewNamesEveryState(t *testing.T) {
	cells := []web.CellState{web.CellNotStarted, web.CellWorking, web.CellPassed, web.CellStuck}
	clusters := []web.ClusterState{web.ClusterReady, web.ClusterWaiting, web.ClusterRecovering, web.ClusterFailed, web.ClusterPaused}
	reasons := []web.StuckReason{web.StuckOverEstimate, web.StuckRepeatedFailure}
	var g workshop.GridView
	for st := workshop.NotStarted; st <= workshop.Stuck; st++ {
		for c := workshop.ClusterReady; c <= workshop.ClusterPaused; c++ {
			g.Learners = append(g.Learners, workshop.LearnerRow{Cluster: c, Cells: []workshop.CellView{{State: st}}})
		}
	}
	for _, r := range []string{workshop.ReasonOverEstimate, workshop.ReasonRepeatedFailed} {
		g.Stuck = append(g.Stuck, workshop.StuckLearner{Reason: r})
	}
	v := gridView(g)
	seenCells, seenClusters := map[web.CellState]bool{}, map[web.ClusterState]bool{}
	for _, row := range v.Learners {
		if !slices.Contains(clusters, row.Cluster) {
			t.Errorf("cluster state %q is not one the dashboard shows", row.Cluster)
		}
		seenClusters[row.Cluster] = true
		for _, c := range row.Cells {
			if !slices.Contains(cells, c.State) {
				t.Errorf("cell state %q is not one the dashboard shows", c.State)
			}
			seenCells[c.State] = true
		}
	}
	if len(seenCells) != len(cells) || len(seenClusters) != len(clusters) {
		t.Errorf("the grid's states reach %d cell and %d cluster states of the view; want all %d and %d", len(seenCells), len(seenClusters), len(cells), len(clusters))
	}
	for _, s := range v.Stuck {
		if !slices.Contains(reasons, s.Reason) {
			t.Errorf("stuck reason %q is not one the dashboard words", s.Reason)
		}
	}
}
