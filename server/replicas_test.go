package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/session/sessiontest"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/store/storetest"
	"github.com/kindlab/kindlab/server/workshop"
)

// replica is a Server on a shared PostgreSQL database, as kindlab replicas
// behind one address are.
func replica(t *testing.T, where, name string, cat *labs.Catalog) *Server {
	t.Helper()
	st, err := store.Open(context.Background(), where)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, Config{Catalog: cat, Store: st},
		session.Config{Pool: waitingPool{}, Clusters: sessiontest.New(t, nil), Replica: name, Lease: 2 * time.Second})
}

// TestReplicasShareTheDashboard: two replicas on one database. A learner of
// a workshop runs on replica a; the dashboard served by replica b shows them
// and their progress as a records it, once each; a message the instructor
// sends through a reaches the learners that b runs.
func TestReplicasShareTheDashboard(t *testing.T) {
	where := storetest.Postgres(t)
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	a, b := replica(t, where, "a", cat), replica(t, where, "b", cat)
	ctx := context.Background()
	w, _, err := a.board.Registry.Create(ctx, "Networking", []string{"services-dns"}, 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lab, _ := cat.Lab("services-dns")
	join := func(srv *Server, name string) *session.Learner {
		seat, err := srv.board.Registry.Join(ctx, w.Code, name)
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := srv.sessions.Start(ctx, "192.0.2.1", lab, w.ID, seat.Name, seat.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ada, grace := join(a, "Ada"), join(b, "Grace")
	heard, stop := grace.Subscribe()
	defer stop()

	// b's grid is built now, from what is stored; Ada's step 1 pass comes later.
	g, err := b.board.Grid(ctx, w, lab.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.sessions.Record(ctx, activity.Event{At: time.Now(), Workshop: w.ID, Session: ada.ID(), Lab: lab.ID, Kind: activity.KindStepPass, Step: 1})
	row := func() (workshop.LearnerRow, bool) {
		for _, r := range g.Snapshot(time.Now()).Learners {
			if r.Session == ada.ID() {
				return r, true
			}
		}
		return workshop.LearnerRow{}, false
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, ok := row()
		if ok && r.Name == "Ada" && len(r.Cells) > 0 && r.Cells[0].State == workshop.Passed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b's dashboard row for Ada, who runs on a: %+v (found %v); want step 1 passed", r, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r, _ := row(); r.Cells[0].State != workshop.Passed || len(g.Snapshot(time.Now()).Learners) != 2 {
		t.Errorf("b's grid: %+v", g.Snapshot(time.Now()).Learners)
	}

	a.sessions.Record(ctx, activity.Event{At: time.Now(), Workshop: w.ID, Kind: activity.KindMessage, Message: "Break until 11"})
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-heard:
			if m, ok := e.Data.(session.Message); ok && m.Text == "Break until 11" {
				return
			}
		case <-timeout:
			t.Fatal("Grace, on replica b, did not get the message sent through a")
		}
	}
}

// TestReplicasServeOneWorkshop: two replicas on one database behind one
// address. A learner starts on replica a; their requests that reach b are
// passed to a (the page, a step change). Then a stops answering (its
// process still runs and beats): b takes the session over at the learner's
// next request and serves it on the same step and cluster, and a lets the
// session go.
func TestReplicasServeOneWorkshop(t *testing.T) {
	where := storetest.Postgres(t)
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	clusters := sessiontest.New(t, nil) // one cluster engine, as replicas on one host share Docker
	type node struct {
		srv  *Server
		ts   *httptest.Server
		stop func() // the server and its sessions, as the replica stopping
	}
	start := func(name string) node {
		ts := httptest.NewUnstartedServer(nil)
		st, err := store.Open(context.Background(), where)
		if err != nil {
			t.Fatal(err)
		}
		srv, stop := serveStoppable(t, Config{Catalog: cat, Store: st}, session.Config{Pool: clusters, Clusters: clusters, Connect: clusters.Connect,
			Replica: name, Lease: 2 * time.Second, ReplicaURL: "http://" + ts.Listener.Addr().String()})
		ts.Config.Handler = srv.Handler()
		ts.Start()
		t.Cleanup(ts.Close)
		return node{srv, ts, stop}
	}
	a, b := start("a"), start("b")
	var mu sync.Mutex
	to := a.ts.URL
	front := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		mu.Lock()
		u, _ := url.Parse(to)
		mu.Unlock()
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}})
	defer front.Close()
	route := func(n node) { mu.Lock(); to = n.ts.URL; mu.Unlock() }

	c := browser(t)
	sessionURL := startLab(t, front, c)
	sid := readyLearner(t, a.srv, sessionURL)
	if _, ok := b.srv.sessions.Get(sid); ok {
		t.Fatal("replica b runs the session a started")
	}

	route(b) // the learner's next requests reach b, which passes them to a
	if got := currentStep(t, c, sessionURL); got != "1" {
		t.Fatalf("the lab page through b shows step %s; want 1", got)
	}
	resp, body := postForm(t, c, sessionURL+"/step", url.Values{"step": {"2"}, "csrf": {csrfFor(t, c, sessionURL)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("step change through b = %d; want 303\n%s", resp.StatusCode, body)
	}
	if l, _ := a.srv.sessions.Get(sid); l.Session().Step != 2 {
		t.Fatalf("replica a has the learner on step %d; want 2 (b passed the change on)", l.Session().Step)
	}
	if _, ok := b.srv.sessions.Get(sid); ok {
		t.Fatal("replica b took the session while a answered")
	}
	before, _ := a.srv.Store.Session(context.Background(), sid)

	// A browser that says its request was passed on, straight to b, moves nothing.
	req, _ := http.NewRequest(http.MethodGet, b.ts.URL+mustURL(t, sessionURL).Path, nil)
	req.Header.Set(forwardedBy, "a")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, moved := b.srv.sessions.Get(sid); resp.StatusCode != http.StatusServiceUnavailable || moved {
		t.Errorf("a request to b marked %s = %d, session taken over %v; want 503 and the session left on a", forwardedBy, resp.StatusCode, moved)
	}

	a.ts.CloseClientConnections()
	a.ts.Listener.Close() // a stops answering; its process (and heartbeat) goes on
	stopped := time.Now()
	if got := currentStep(t, c, sessionURL); got != "2" {
		t.Fatalf("after a stopped answering, the lab page shows step %s; want 2", got)
	}
	t.Logf("a stopped answering to the lab page served by b: %s", time.Since(stopped).Round(time.Millisecond))
	l, ok := b.srv.sessions.Get(sid)
	if !ok {
		t.Fatal("replica b did not take the session over")
	}
	if s := l.Session(); s.Owner != "b" || s.Cluster != before.Cluster || s.State != store.StateReady {
		t.Errorf("the session on b = %+v; want owned by b, ready, on its cluster %s", s, before.Cluster)
	}
	waitFor(t, "replica a letting the session go", func() bool {
		_, ok := a.srv.sessions.Get(sid)
		return !ok
	})
	if stored, _ := b.srv.Store.Session(context.Background(), sid); stored.Owner != "b" || stored.Step != 2 {
		t.Errorf("stored session = %+v; want owner b, step 2", stored)
	}

	// b stops (it leaves the replica table): a, still running, takes the
	// session back without waiting for a request.
	b.ts.Close()
	b.stop()
	stopped = time.Now()
	waitFor(t, "replica a taking the session back from b, which stopped", func() bool {
		l, ok := a.srv.sessions.Get(sid)
		return ok && l.Session().State == store.StateReady && l.Session().Step == 2
	})
	t.Logf("b stopped to a running the session again, no request: %s (takeovers run every lease/2, 1 s here)", time.Since(stopped).Round(time.Millisecond))
}

// TestReplicasShareStartLimits: the sessions one address may run count on
// every replica: two started through a, a third through b is refused.
func TestReplicasShareStartLimits(t *testing.T) {
	where := storetest.Postgres(t)
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	a, b := replica(t, where, "a", cat), replica(t, where, "b", cat)
	tsA, tsB := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer tsA.Close()
	defer tsB.Close()
	start := func(ts *httptest.Server) (int, string) {
		c := browser(t)
		_, doc := get(t, c, ts.URL+"/")
		resp, body := postForm(t, c, ts.URL+"/labs/services-dns/start", url.Values{"csrf": {csrfOf(t, doc)}})
		return resp.StatusCode, body
	}
	for i := range a.Limits.SessionsPerClient {
		if code, body := start(tsA); code != http.StatusSeeOther {
			t.Fatalf("start %d through a = %d; want 303\n%s", i+1, code, body)
		}
	}
	if code, body := start(tsB); code != http.StatusTooManyRequests || !strings.Contains(body, "as many labs running as one person may") {
		t.Errorf("one more start through b = %d; want 429, as many labs as one person may\n%s", code, body)
	}
}
