package session_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/session/sessiontest"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/workstation"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

// testLab has two steps, each passed by a ConfigMap, and one file.
var testLab = &labs.Lab{ID: "cm-lab", Title: "ConfigMaps", Files: []string{"cm-lab/notes.txt"}, Images: []string{"kindlab/toolbox:lab"}, Steps: []labs.Step{
	{Title: "First", Checks: []labs.Check{configMapCheck("first")}, Solution: []string{"kubectl create configmap first"}},
	{Title: "Second", Checks: []labs.Check{configMapCheck("second")}, Solution: []string{"kubectl create configmap second"}},
}}

func configMapCheck(name string) labs.Check {
	return labs.Check{ID: name, Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "configmaps", Name: name}}
}

type fixture struct {
	m        *session.Manager
	clusters *sessiontest.Clusters
	store    *store.Store
	clock    *clock.Fake
	limits   platform.NamespaceLimits

	mu     sync.Mutex
	events []activity.Event
}

func newFixture(t *testing.T, opts ...func(*session.Config)) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	platformFS, _ := fs.Sub(manifests.FS(), "platform")
	limits, err := platform.LoadNamespaceLimits(platformFS)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clusters: sessiontest.New(t, nil), store: st, clock: clock.NewFake(t0), limits: limits}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); st.Close() })
	cfg := session.Config{
		Catalog:   &labs.Catalog{Labs: []*labs.Lab{testLab}},
		Manifests: fstest.MapFS{"cm-lab/notes.txt": {Data: []byte("hello")}},
		Store:     st, Pool: f.clusters, Clusters: f.clusters, Connect: f.clusters.Connect, Limits: limits,
		Clock: f.clock, MaxAge: time.Hour, IdleTimeout: 30 * time.Minute, CheckTick: 50 * time.Millisecond,
		OnEvent: func(e activity.Event) {
			f.mu.Lock()
			f.events = append(f.events, e)
			f.mu.Unlock()
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	f.m, err = session.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// restarted is a second manager on the fixture's store and clusters, as
// after a restart of kindlab.
func (f *fixture) restarted(t *testing.T, opts ...func(*session.Config)) *session.Manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := session.Config{
		Catalog:   &labs.Catalog{Labs: []*labs.Lab{testLab}},
		Manifests: fstest.MapFS{"cm-lab/notes.txt": {Data: []byte("hello")}},
		Store:     f.store, Pool: f.clusters, Clusters: f.clusters, Connect: f.clusters.Connect, Limits: f.limits,
		Clock: f.clock, MaxAge: time.Hour,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := session.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) kinds() []activity.Kind {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []activity.Kind
	for _, e := range f.events {
		out = append(out, e.Kind)
	}
	return out
}

// waitFor reads the learner's page events until one satisfies ok.
func waitFor(t *testing.T, events <-chan session.Event, what string, ok func(session.Event) bool) session.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	var last session.Event
	for {
		select {
		case e := <-events:
			if ok(e) {
				return e
			}
			last = e
		case <-timeout:
			t.Fatalf("no %s within 30s; the last event was %s %+v", what, last.Name, last.Data)
		}
	}
}

func ready(e session.Event) bool {
	p, ok := e.Data.(session.Progress)
	return ok && p.Done
}

func allPassed(step int) func(session.Event) bool {
	return func(e session.Event) bool {
		c, ok := e.Data.(session.Checks)
		return ok && c.Step == step && c.AllPassed
	}
}

func startReady(t *testing.T, f *fixture) (*session.Learner, <-chan session.Event) {
	t.Helper()
	l, token, err := f.m.Start(context.Background(), "192.0.2.1", testLab, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if token == "" || l.Session().TokenHash != session.HashToken(token) {
		t.Fatalf("token %q does not match the stored hash", token)
	}
	events, stop := l.Subscribe()
	t.Cleanup(stop)
	waitFor(t, events, "ready progress", ready)
	return l, events
}

func createConfigMap(t *testing.T, c *sessiontest.Cluster, name string) {
	t.Helper()
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetName(name)
	cm.SetNamespace("default")
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	if _, err := c.Dynamic.Resource(gvr).Namespace("default").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestProvisionCopiesFilesAndGetsReady: a start copies the lab's files, loads
// the images lab.yaml names, gets the terminal ready and starts the learner's
// shell before their page asks for it.
func TestProvisionCopiesFilesAndGetsReady(t *testing.T) {
	f := newFixture(t)
	l, _ := startReady(t, f)
	sess := l.Session()
	if sess.State != store.StateReady || sess.Cluster == "" || sess.Step != 1 {
		t.Fatalf("session = %s on %q at step %d; want ready on a cluster at step 1", sess.State, sess.Cluster, sess.Step)
	}
	stored, err := f.store.Session(context.Background(), sess.ID)
	if err != nil || stored.State != store.StateReady || stored.Cluster != sess.Cluster {
		t.Errorf("stored session = %+v, %v; want it ready on %s", stored, err, sess.Cluster)
	}
	c := f.clusters.Cluster(sess.Cluster)
	waitUntil(t, func() bool { return len(c.Execs()) >= 2 }, "the shell started")
	execs := c.Execs()
	if len(execs) != 2 || !slices.Equal(execs[0], []string{"tar", "-x", "-m", "-C", "/home/learner", "-f", "-"}) || !isShell(execs[1]) {
		t.Errorf("execs in the cluster = %q; want the lab file copy, then the learner's shell", execs)
	}
	if got := f.clusters.Loaded(sess.Cluster); !slices.Equal(got, testLab.Images) {
		t.Errorf("images loaded = %q; want the lab's %q", got, testLab.Images)
	}
	if got, want := f.kinds(), []activity.Kind{activity.KindJoin, activity.KindReady, activity.KindStepStart}; !slices.Equal(got, want) {
		t.Errorf("events = %v; want %v", got, want)
	}
	if n := f.m.Running("192.0.2.1"); n != 1 {
		t.Errorf("Running = %d; want 1", n)
	}
}

// isShell reports whether command is the learner's shell, told its lab.
func isShell(command []string) bool {
	return slices.Contains(command, "KINDLAB_LAB="+testLab.ID) && slices.Contains(command, "bash")
}

// A cluster prepared with the lab's files as they are now gets no copy: the
// learner's shell, told its lab, is the only exec; one prepared with other
// files gets them copied.
func TestProvisionLeavesCatalogFilesToTheShell(t *testing.T) {
	for _, tt := range []struct {
		name   string
		notes  string
		copied bool
	}{{"the same files", "hello", false}, {"older files", "hello, old", true}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.clusters.SetCatalog(map[string][]byte{testLab.ID + "_notes.txt": []byte(tt.notes), "other_x.yaml": []byte("x")})
			l, _ := startReady(t, f)
			c := f.clusters.Cluster(l.Session().Cluster)
			want := 1
			if tt.copied {
				want = 2
			}
			waitUntil(t, func() bool { return len(c.Execs()) >= want }, "the shell started")
			execs := c.Execs()
			if len(execs) != want || !isShell(execs[want-1]) || tt.copied && execs[0][0] != "tar" {
				t.Errorf("execs in the cluster = %q; want %d, the last the learner's shell", execs, want)
			}
		})
	}
}

func TestStepPassesWhenTheWorkIsDone(t *testing.T) {
	f := newFixture(t)
	l, events := startReady(t, f)
	c := f.clusters.Cluster(l.Session().Cluster)
	// The first results may have come before the ready progress: read the state.
	waitUntil(t, func() bool {
		ch := l.Checks()
		return ch.Step == 1 && len(ch.Results) == 1 && ch.Results[0].Status == check.Fail
	}, "step 1's check failing before the work")
	createConfigMap(t, c, "first")
	waitFor(t, events, "step 1 passing", allPassed(1))

	waitUntil(t, func() bool {
		prog, err := f.store.Progress(context.Background(), l.ID())
		return err == nil && !prog[1].Passed.IsZero()
	}, "step 1 stored as passed")
	passed, err := l.PassedSteps(context.Background())
	if err != nil || !slices.Equal(passed, []bool{true, false}) {
		t.Errorf("PassedSteps = %v, %v; want [true false]", passed, err)
	}
	waitUntil(t, func() bool { return slices.Contains(f.kinds(), activity.KindStepPass) }, "a step-pass event")

	// The learner moves on; the next step's check starts failing, then passes.
	l.GoTo(2)
	if s := l.Session().Step; s != 2 {
		t.Fatalf("step after GoTo(2) = %d", s)
	}
	createConfigMap(t, c, "second")
	waitFor(t, events, "step 2 passing", allPassed(2))
	l.GoTo(99) // out of range: nothing changes
	if s := l.Session().Step; s != 2 {
		t.Errorf("step after GoTo(99) = %d; want 2", s)
	}
}

func TestResetGivesAFreshClusterAndKeepsTheStep(t *testing.T) {
	f := newFixture(t)
	l, events := startReady(t, f)
	l.GoTo(2)
	old := l.Session().Cluster
	l.Reset(context.Background())
	waitFor(t, events, "ready again", ready)
	sess := l.Session()
	if sess.Cluster == old || sess.State != store.StateReady || sess.Step != 2 {
		t.Errorf("after reset: %s on %q at step %d; want ready on a new cluster at step 2", sess.State, sess.Cluster, sess.Step)
	}
	if got := f.clusters.Released(); !slices.Equal(got, []string{old}) {
		waitUntil(t, func() bool { return slices.Equal(f.clusters.Released(), []string{old}) }, "the old cluster released")
	}
	if !slices.Contains(f.kinds(), activity.KindReset) {
		t.Errorf("events = %v; want a reset", f.kinds())
	}
}

func TestFailedClaimOffersTryAgain(t *testing.T) {
	f := newFixture(t)
	f.clusters.FailClaims(errors.New("no room"))
	l, _, err := f.m.Start(context.Background(), "192.0.2.1", testLab, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	events, stop := l.Subscribe()
	defer stop()
	waitFor(t, events, "an error", func(e session.Event) bool { p, ok := e.Data.(session.Progress); return ok && p.Error != "" })
	if l.Session().State != store.StateFailed {
		t.Errorf("state = %s; want failed", l.Session().State)
	}
	if n := f.m.Running("192.0.2.1"); n != 0 {
		t.Errorf("Running = %d; a failed session must not count", n)
	}
	if _, err := l.Terminal(); !errors.Is(err, session.ErrNotReady) {
		t.Errorf("Terminal() = %v; want ErrNotReady", err)
	}
	waitUntil(t, func() bool { return slices.Contains(f.kinds(), activity.KindFailed) }, "a cluster-failed event for the instructor")
	f.clusters.FailClaims(nil)
	l.Reset(context.Background()) // Try again
	waitFor(t, events, "ready after Try again", ready)
}

// A learner who waits for a cluster sees their place in the queue, and so does
// the instructor: one event per new place.
func TestQueuePlacesAreTold(t *testing.T) {
	f := newFixture(t)
	f.clusters.Queue(3, 3, 2, 1, 1)
	l, _, err := f.m.Start(context.Background(), "192.0.2.1", testLab, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return l.Session().State == store.StateReady }, "ready")
	var places []string
	f.mu.Lock()
	for _, e := range f.events {
		if e.Kind == activity.KindQueued {
			places = append(places, e.Message)
		}
	}
	f.mu.Unlock()
	if want := []string{"3", "2", "1"}; !slices.Equal(places, want) {
		t.Errorf("queued events = %q; want %q", places, want)
	}
}

func TestReapEndsExpiredSessions(t *testing.T) {
	f := newFixture(t)
	l, events := startReady(t, f)
	name := l.Session().Cluster
	f.clock.Advance(10 * time.Minute)
	f.m.ReapOnce(context.Background())
	if _, ok := f.m.Get(l.ID()); !ok {
		t.Fatal("a session 10 minutes old and idle was ended")
	}
	f.clock.Advance(time.Hour)
	f.m.ReapOnce(context.Background())
	if _, ok := f.m.Get(l.ID()); ok {
		t.Fatal("a session past its age is still live")
	}
	waitFor(t, events, "the end", func(e session.Event) bool { p, ok := e.Data.(session.Progress); return ok && p.Error != "" })
	if got := f.clusters.Released(); !slices.Contains(got, name) {
		t.Errorf("released = %v; want %s", got, name)
	}
	stored, _ := f.store.Session(context.Background(), l.ID())
	if stored.State != store.StateExpired {
		t.Errorf("stored state = %s; want expired", stored.State)
	}
	if k := f.kinds(); k[len(k)-1] != activity.KindLeave {
		t.Errorf("last event = %s; want leave", k[len(k)-1])
	}
}

// TestLearnerEndsSession: a learner who is done ends the session; it is gone at
// once and its cluster goes back to the pool, without waiting to go idle.
func TestLearnerEndsSession(t *testing.T) {
	f := newFixture(t)
	l, events := startReady(t, f)
	name := l.Session().Cluster
	if !f.m.End(context.Background(), l.ID()) {
		t.Fatal("End of a live session reported it was not live")
	}
	if _, ok := f.m.Get(l.ID()); ok {
		t.Fatal("an ended session is still live")
	}
	waitFor(t, events, "the end", func(e session.Event) bool { p, ok := e.Data.(session.Progress); return ok && p.Error != "" })
	waitUntil(t, func() bool { return slices.Contains(f.clusters.Released(), name) }, "the cluster released")
	waitUntil(t, func() bool {
		s, _ := f.store.Session(context.Background(), l.ID())
		return s.State == store.StateExpired
	}, "the session stored as ended")
	if f.m.End(context.Background(), l.ID()) {
		t.Error("a second End reported a live session")
	}
}

// TestIdleAndOldSessionsEnd: a session ends when nobody has looked at it for
// IdleTimeout, or MaxAge after it started however active it is.
func TestIdleAndOldSessionsEnd(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		touch   bool // the learner was seen just before
		ended   bool
	}{
		{name: "active", advance: 10 * time.Minute},
		{name: "idle too long", advance: 31 * time.Minute, ended: true},
		{name: "seen, and young enough", advance: 31 * time.Minute, touch: true},
		{name: "past the absolute limit though active", advance: time.Hour + time.Minute, touch: true, ended: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			l, _ := startReady(t, f)
			f.clock.Advance(tt.advance)
			if tt.touch {
				l.Touch()
			}
			f.m.ReapOnce(context.Background())
			_, live := f.m.Get(l.ID())
			stored, err := f.store.Session(context.Background(), l.ID())
			if err != nil {
				t.Fatal(err)
			}
			if live == tt.ended || (stored.State == store.StateExpired) != tt.ended {
				t.Errorf("after %s: live %v, stored %s; want ended %v", tt.advance, live, stored.State, tt.ended)
			}
		})
	}
}

func TestRecoverAfterRestart(t *testing.T) {
	f := newFixture(t)
	l, _ := startReady(t, f)
	l.GoTo(2)
	m2 := f.restarted(t)
	var adopted []string
	if err := m2.Recover(context.Background(), func(c *cluster.Cluster) { adopted = append(adopted, c.Name) }); err != nil {
		t.Fatal(err)
	}
	got, ok := m2.Get(l.ID())
	if !ok {
		t.Fatal("the session did not come back")
	}
	if s := got.Session(); s.Step != 2 || s.Cluster != l.Session().Cluster || !slices.Equal(adopted, []string{s.Cluster}) {
		t.Errorf("recovered at step %d on %q, adopted %v; want step 2 on %q", s.Step, s.Cluster, adopted, l.Session().Cluster)
	}
}

func waitUntil(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for range 3000 {
		if ok() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestLostClusterIsReplaced: a cluster that fails three health probes in a row
// and whose node has stopped (killed) is lost: the learner is told in plain
// words, gets a new cluster and stays on their step; the events record the
// loss and the recovery.
func TestLostClusterIsReplaced(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.HealthEvery = time.Second })
	l, events := startReady(t, f)
	old := l.Session().Cluster
	f.clusters.Cluster(old).SetDown(true)
	f.clusters.SetNode(old, cluster.NodeExited, f.clock.Now())
	told := make(chan string, 8)
	go func() {
		for e := range events {
			if m, ok := e.Data.(session.Message); ok {
				told <- m.Text
			}
		}
	}()
	for i := 0; i < 300 && (l.Session().Cluster == old || l.Session().State != store.StateReady); i++ {
		f.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if s := l.Session(); s.Cluster == old || s.State != store.StateReady || s.Step != 1 {
		t.Fatalf("session = %+v; want ready on a new cluster, still on step 1", s)
	}
	select {
	case msg := <-told:
		if !strings.Contains(msg, "Your cluster stopped") || !strings.Contains(msg, "step 1") {
			t.Errorf("told %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Error("the learner was not told")
	}
	waitKinds := time.Now().Add(10 * time.Second)
	for !slices.Contains(f.kinds(), activity.KindRecovered) && time.Now().Before(waitKinds) {
		time.Sleep(10 * time.Millisecond)
	}
	if k := f.kinds(); !slices.Contains(k, activity.KindLost) || !slices.Contains(k, activity.KindRecovered) {
		t.Errorf("events = %v; want cluster-lost and recovered", k)
	}
}

// A claimed cluster that does not answer and whose node has stopped is thrown away and another claimed:
// the learner gets a working one and never sees the broken one.
func TestClusterThatDoesNotAnswerIsThrownAway(t *testing.T) {
	var broken string
	var f *fixture
	f = newFixture(t, func(c *session.Config) {
		c.Connect = func(cl *cluster.Cluster) (*workstation.Conn, error) {
			if broken == "" || broken == cl.Name {
				broken = cl.Name
				f.clusters.SetNode(cl.Name, cluster.NodeExited, f.clock.Now())
				return nil, errors.New("connection refused")
			}
			return f.clusters.Connect(cl)
		}
	})
	l, _ := startReady(t, f)
	if s := l.Session(); s.Cluster == broken || s.State != store.StateReady {
		t.Fatalf("session = %+v; want ready on a cluster other than the broken %s", s, broken)
	}
	waitUntil(t, func() bool { return slices.Contains(f.clusters.Released(), broken) }, "the broken cluster released")
}

// messages collects the texts the learner's page is told.
func messages(events <-chan session.Event) <-chan string {
	told := make(chan string, 16)
	go func() {
		for e := range events {
			if m, ok := e.Data.(session.Message); ok {
				told <- m.Text
			}
		}
	}()
	return told
}

// advanceUntil moves the fake clock a second at a time until ok.
func advanceUntil(t *testing.T, f *fixture, ok func() bool, what string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if ok() {
			return
		}
		f.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

func saidWithin(t *testing.T, told <-chan string, want ...string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case msg := <-told:
			if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(msg, w) }) {
				return
			}
		case <-timeout:
			t.Fatalf("the learner was not told %q", want)
		}
	}
}

// TestSlowClusterIsWaitedFor: a cluster whose probes time out while its node
// runs (a busy host, a slow host cluster API) is waited for: answering again
// within slowFor (45 s) it is kept, nothing lost or replaced; silent for longer
// it is lost and replaced, the learner told it stopped answering. Probes that
// fail at once (refused, not ready) make it lost after three, as before.
func TestSlowClusterIsWaitedFor(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.HealthEvery = 50 * time.Millisecond }) // the probes' timeout, in real time
	l, events := startReady(t, f)
	told := messages(events)
	name := l.Session().Cluster
	c := f.clusters.Cluster(name)
	advance := func(d time.Duration) {
		for end := f.clock.Now().Add(d); f.clock.Now().Before(end); {
			f.clock.Advance(time.Second)
			time.Sleep(70 * time.Millisecond) // a probe that times out
		}
	}
	c.SetSlow(true) // probes time out; the node runs, as it did when the cluster last answered
	advance(30 * time.Second)
	c.SetSlow(false)
	advance(3 * time.Second)
	if k := f.kinds(); slices.Contains(k, activity.KindLost) || l.Session().Cluster != name {
		t.Fatalf("events %v, session %+v: a cluster silent for 30 s while its node ran was lost; want it waited for", k, l.Session())
	}

	c.SetSlow(true) // now for good
	advance(40 * time.Second)
	if k := f.kinds(); slices.Contains(k, activity.KindLost) {
		t.Fatalf("events %v: lost after 40 s of timeouts; want it waited for 45 s", k)
	}
	advanceUntil(t, f, func() bool { return slices.Contains(f.kinds(), activity.KindRecovered) }, "the learner recovered")
	if s := l.Session(); s.State != store.StateReady || s.Cluster == name || s.Step != 1 {
		t.Errorf("session = %+v; want ready on a new cluster, still on step 1", s)
	}
	saidWithin(t, told, "Your cluster stopped answering", "step 1")
	if r := f.clusters.Released(); !slices.Contains(r, name) {
		t.Errorf("released %v; want the silent cluster %s released", r, name)
	}

	// A cluster refusing its probes while its node runs is lost after three.
	l.GoTo(1)
	second := l.Session().Cluster
	f.clusters.Cluster(second).SetDown(true)
	for range 5 {
		f.clock.Advance(time.Second)
		time.Sleep(70 * time.Millisecond)
	}
	waitUntil(t, func() bool {
		return len(slices.DeleteFunc(f.kinds(), func(k activity.Kind) bool { return k != activity.KindLost })) == 2
	}, "the refusing cluster lost within 5 s")
}

// TestClusterThatComesBackIsKept: the Docker engine stops (every probe fails,
// the engine does not answer), then comes back with the learner's node. The
// learner waits, told why, and is back on the same cluster with all their
// work and on the same step once its workstation runs again (not while the
// API server still shows the workstation's status from before the restart)
// and kubectl in it reaches the API server (not while the node's Service
// routes are not set up again); nothing is released or redone.
func TestClusterThatComesBackIsKept(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.HealthEvery = time.Second })
	l, events := startReady(t, f)
	told := messages(events)
	l.GoTo(2)
	name := l.Session().Cluster
	c := f.clusters.Cluster(name)
	c.SetDown(true)
	f.clusters.SetNode(name, sessiontest.EngineDown, time.Time{})
	advanceUntil(t, f, func() bool { return slices.Contains(f.kinds(), activity.KindLost) }, "the cluster declared lost")
	saidWithin(t, told, "container engine stopped", "step 2")
	if s := l.Session(); s.State != store.StateProvisioning || s.Cluster != name {
		t.Errorf("while the engine is down the session is %+v; want provisioning, still naming %s", s, name)
	}
	f.clock.Advance(5 * time.Minute) // an engine down for long is still waited for
	time.Sleep(50 * time.Millisecond)
	f.clusters.SetNode(name, cluster.NodeRunning, f.clock.Now())
	f.clock.Advance(10 * time.Second) // the node starts; its API server is not up yet
	time.Sleep(50 * time.Millisecond)
	c.SetDown(false) // the API server answers, the kubelet has not started the workstation yet
	for range 10 {
		f.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if k := f.kinds(); slices.Contains(k, activity.KindRecovered) {
		t.Fatalf("events %v: back on a workstation whose status is from before its node restarted", k)
	}
	c.SetServicesDown(true) // the workstation runs again; kubectl in it cannot reach the API yet
	if err := c.RestartWorkstation(f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		f.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if k := f.kinds(); slices.Contains(k, activity.KindRecovered) {
		t.Fatalf("events %v: back on a cluster where kubectl in the terminal cannot reach the API server", k)
	}
	c.SetServicesDown(false)
	advanceUntil(t, f, func() bool { return slices.Contains(f.kinds(), activity.KindRecovered) }, "the learner recovered")
	if s := l.Session(); s.State != store.StateReady || s.Cluster != name || s.Step != 2 {
		t.Errorf("after the engine came back the session is %+v; want ready on %s, step 2", s, name)
	}
	saidWithin(t, told, "Your cluster is back", "step 2")
	if r := f.clusters.Released(); len(r) != 0 {
		t.Errorf("released %v; want the same cluster kept", r)
	}
	if l.Conn() == nil {
		t.Error("no connection to the cluster that came back")
	}
}

// TestClusterThatDoesNotComeBackIsReplaced: a node that restarted but whose
// API server never answers is waited for, then replaced, the learner kept on
// their step; one loss and one recovery are recorded.
func TestClusterThatDoesNotComeBackIsReplaced(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.HealthEvery = time.Second })
	l, events := startReady(t, f)
	told := messages(events)
	name := l.Session().Cluster
	f.clusters.Cluster(name).SetDown(true)
	f.clock.Advance(time.Second)
	f.clusters.SetNode(name, cluster.NodeRunning, f.clock.Now()) // restarted since it last answered
	advanceUntil(t, f, func() bool { return slices.Contains(f.kinds(), activity.KindLost) }, "the cluster declared lost")
	saidWithin(t, told, "starting again", "step 1")
	f.clock.Advance(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if s := l.Session(); s.Cluster != name {
		t.Fatalf("replaced after a minute (%+v); want the node waited for", s)
	}
	advanceUntil(t, f, func() bool { return slices.Contains(f.kinds(), activity.KindRecovered) }, "the learner recovered")
	if s := l.Session(); s.State != store.StateReady || s.Cluster == name {
		t.Errorf("session = %+v; want ready on a new cluster", s)
	}
	saidWithin(t, told, "did not come back", "step 1")
	waitUntil(t, func() bool { return slices.Contains(f.clusters.Released(), name) }, "the old cluster released")
	var lost, recovered int
	for _, k := range f.kinds() {
		lost += map[bool]int{true: 1}[k == activity.KindLost]
		recovered += map[bool]int{true: 1}[k == activity.KindRecovered]
	}
	if lost != 1 || recovered != 1 {
		t.Errorf("%d lost and %d recovered events; want one each", lost, recovered)
	}
}

// TestRestartingClusterIsWaitedFor: a warm cluster claimed while its node
// starts again (after a Docker engine restart) is waited for, not thrown away.
func TestRestartingClusterIsWaitedFor(t *testing.T) {
	var f *fixture
	refused := 0
	f = newFixture(t, func(c *session.Config) {
		c.Connect = func(cl *cluster.Cluster) (*workstation.Conn, error) {
			if refused < 3 {
				refused++
				return nil, errors.New("connection refused")
			}
			return f.clusters.Connect(cl)
		}
	})
	l, _, err := f.m.Start(context.Background(), "192.0.2.1", testLab, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	advanceUntil(t, f, func() bool { return l.Session().State == store.StateReady }, "the session ready")
	if r := f.clusters.Released(); len(r) != 0 {
		t.Errorf("released %v; want the restarting cluster waited for", r)
	}
}

// TestIdleClusterSleepsUntilTheLearnerIsBack: a learner who does nothing for
// PauseIdle has their cluster paused; while it sleeps nothing runs against it
// (no check sees what changed, no failed health probe makes it lost); their
// next activity wakes it, and the step's checks pick up where they were.
func TestIdleClusterSleepsUntilTheLearnerIsBack(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.HealthEvery = time.Second; c.PauseIdle = time.Minute })
	l, events := startReady(t, f)
	name := l.Session().Cluster
	paused := func() bool { p, _ := f.clusters.Paused(name); return p }
	for range 45 {
		f.clock.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	if paused() {
		t.Fatal("paused after 45 s without activity; want a minute")
	}
	advanceUntil(t, f, func() bool { return slices.Contains(f.kinds(), activity.KindPaused) }, "the idle learner's cluster paused")
	if !paused() || !l.Asleep() {
		t.Errorf("paused = %v, asleep = %v; want both once the %s event is recorded", paused(), l.Asleep(), activity.KindPaused)
	}
	for range 20 { // health probes would fail now, were they running
		f.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	createConfigMap(t, f.clusters.Cluster(name), "first")
	time.Sleep(300 * time.Millisecond) // six check ticks
	for len(events) > 0 {
		if e := <-events; allPassed(1)(e) {
			t.Fatal("step 1 passed while the cluster slept; want its checks stopped")
		}
	}
	if k := f.kinds(); slices.Contains(k, activity.KindLost) {
		t.Fatalf("events %v; want the paused cluster not taken for lost", k)
	}
	l.Active()
	waitFor(t, events, "step 1 passed after waking", allPassed(1))
	if paused() || l.Asleep() {
		t.Error("still paused after the learner came back")
	}
	if s := l.Session(); s.State != store.StateReady || s.Cluster != name || len(f.clusters.Released()) != 0 {
		t.Errorf("session %+v, released %v; want ready on the same cluster", s, f.clusters.Released())
	}
	if k := f.kinds(); !slices.Contains(k, activity.KindResumed) {
		t.Errorf("events %v; want %s", k, activity.KindResumed)
	}
}

// TestClusterThatDoesNotWakeIsReplaced: a paused cluster that Docker cannot
// resume is replaced as a lost one is, the learner kept on their step.
func TestClusterThatDoesNotWakeIsReplaced(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.PauseIdle = time.Minute })
	l, events := startReady(t, f)
	told := messages(events)
	l.GoTo(2)
	name := l.Session().Cluster
	advanceUntil(t, f, func() bool { p, _ := f.clusters.Paused(name); return p }, "the idle learner's cluster paused")
	f.clusters.FailResume(errors.New("Error response from daemon: Container is not paused"))
	l.Active()
	saidWithin(t, told, "did not wake up", "step 2")
	waitUntil(t, func() bool { return slices.Contains(f.kinds(), activity.KindRecovered) }, "the learner recovered")
	if s := l.Session(); s.State != store.StateReady || s.Cluster == name || s.Step != 2 {
		t.Errorf("session = %+v; want ready on a new cluster, step 2", s)
	}
	waitUntil(t, func() bool { return slices.Contains(f.clusters.Released(), name) }, "the old cluster released")
}

// TestRecoveredSessionKeepsItsPage: a page that subscribes while its session
// is brought back (kindlab restarted, or another replica took it over) on the
// same cluster is told the cluster is ready, never of a new one on its way: a
// new cluster's progress would reload the page under the learner.
func TestRecoveredSessionKeepsItsPage(t *testing.T) {
	f := newFixture(t)
	l, _ := startReady(t, f)
	connecting, release := make(chan struct{}), make(chan struct{})
	m2 := f.restarted(t, func(c *session.Config) {
		c.Connect = func(cl *cluster.Cluster) (*workstation.Conn, error) {
			close(connecting)
			<-release
			return f.clusters.Connect(cl)
		}
	})
	recovered := make(chan error, 1)
	go func() { recovered <- m2.Recover(context.Background(), func(*cluster.Cluster) {}) }()
	<-connecting
	back, ok := m2.Get(l.ID())
	if !ok {
		t.Fatal("the session is not live while its cluster is reconnected")
	}
	events, stop := back.Subscribe()
	defer stop()
	if e := <-events; !ready(e) {
		t.Errorf("first event while the cluster is reconnected = %+v; want its progress done", e)
	}
	close(release)
	if err := <-recovered; err != nil {
		t.Fatal(err)
	}
	for len(events) > 0 {
		if p, ok := (<-events).Data.(session.Progress); ok && !p.Done {
			t.Errorf("progress %+v after the session came back on its cluster; want none but done", p)
		}
	}
	if s := back.Session(); s.State != store.StateReady || s.Cluster != l.Session().Cluster {
		t.Errorf("session %+v; want ready on %s", s, l.Session().Cluster)
	}
}

// TestRecoverWakesAPausedCluster: kindlab restarts while a learner's cluster
// sleeps; the session comes back on the same cluster, running again.
func TestRecoverWakesAPausedCluster(t *testing.T) {
	f := newFixture(t)
	l, _ := startReady(t, f)
	name := l.Session().Cluster
	if err := f.clusters.Pause(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	m2 := f.restarted(t)
	if err := m2.Recover(context.Background(), func(*cluster.Cluster) {}); err != nil {
		t.Fatal(err)
	}
	got, ok := m2.Get(l.ID())
	if !ok {
		t.Fatal("the session did not come back")
	}
	if paused, _ := f.clusters.Paused(name); paused || got.Session().Cluster != name {
		t.Errorf("after the restart: paused %v, on %q; want %s running again", paused, got.Session().Cluster, name)
	}
}

// TestHealthFollowsTheWorkstationsContainer: the node controller marks the
// workstation not Ready for a while (the kubelet's heartbeat late, as after a
// thaw) while its container runs: not lost. Its container stopped: lost.
func TestHealthFollowsTheWorkstationsContainer(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.HealthEvery = time.Second })
	l, _ := startReady(t, f)
	c := f.clusters.Cluster(l.Session().Cluster)
	setWorkstation := func(ready corev1.ConditionStatus, state corev1.ContainerState) {
		t.Helper()
		pods := c.Client.CoreV1().Pods(workstation.Namespace)
		p, err := pods.Get(context.Background(), workstation.Pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, Reason: "NodeStatusUnknown"}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: workstation.Container, State: state}}
		if _, err := pods.UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setWorkstation(corev1.ConditionFalse, corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})
	for range 10 {
		f.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if k := f.kinds(); slices.Contains(k, activity.KindLost) {
		t.Fatalf("events %v; want a running workstation marked not Ready kept", k)
	}
	setWorkstation(corev1.ConditionFalse, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}})
	advanceUntil(t, f, func() bool { return slices.Contains(f.kinds(), activity.KindLost) }, "the cluster lost with its workstation stopped")
}

// TestSessionsNameTheirReplica: a session is stored as owned by the kindlab
// replica that started it, and its events as that replica's.
func TestSessionsNameTheirReplica(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.Replica = "kindlab-0" })
	l, _ := startReady(t, f)
	ctx := context.Background()
	stored, err := f.store.Session(ctx, l.ID())
	if err != nil || stored.Owner != "kindlab-0" {
		t.Errorf("stored session = %+v, %v; want owner kindlab-0", stored, err)
	}
	waitUntil(t, func() bool {
		evs, _ := f.store.Events(ctx, l.ID())
		return len(evs) > 0
	}, "an event stored")
	evs, _ := f.store.Events(ctx, l.ID())
	for _, e := range evs {
		if e.Origin != "kindlab-0" {
			t.Errorf("event %s recorded by %q; want kindlab-0", e.Kind, e.Origin)
		}
	}
}

// TestLostClusterReplacedAtMostThreeTimes: a learner whose cluster is lost
// again and again (their own work breaking it, say) gets a new one three
// times in ten minutes; the fourth time kindlab stops: the lost cluster goes
// back, the session fails with a message saying why, the instructor hears of
// it, and the pool gives no more clusters to the learner until they ask
// (Fresh cluster, back on their step), which works.
func TestLostClusterReplacedAtMostThreeTimes(t *testing.T) {
	f := newFixture(t, func(c *session.Config) { c.HealthEvery = time.Second })
	l, events := startReady(t, f)
	told := messages(events)
	l.GoTo(2)
	lose := func() string {
		name := l.Session().Cluster
		f.clusters.Cluster(name).SetDown(true)
		f.clusters.SetNode(name, cluster.NodeExited, f.clock.Now())
		return name
	}
	lost := func() int {
		return len(slices.DeleteFunc(f.kinds(), func(k activity.Kind) bool { return k != activity.KindRecovered }))
	}
	for i := 1; i <= 3; i++ {
		old := lose()
		advanceUntil(t, f, func() bool {
			s := l.Session()
			return lost() == i && s.Cluster != old && s.State == store.StateReady
		}, fmt.Sprintf("replacement %d", i))
	}
	last := lose()
	advanceUntil(t, f, func() bool { return l.Session().State == store.StateFailed }, "the session failed after the fourth loss")
	saidWithin(t, told, "lost 4 times in 10m0s", "does not replace it again")
	if s := l.Session(); s.Cluster != "" || s.Step != 2 {
		t.Errorf("session after the fourth loss = %+v; want no cluster, still on step 2", s)
	}
	waitUntil(t, func() bool { return slices.Contains(f.clusters.Released(), last) }, "the lost cluster released")
	if k := f.kinds(); !slices.Contains(k, activity.KindFailed) || lost() != 3 {
		t.Errorf("events %v; want three recoveries and a cluster-failed", k)
	}
	if p := l.Progress(); !strings.Contains(p.Error, "Press Try again") {
		t.Errorf("progress error %q; want the reason and what to do", p.Error)
	}
	for range 20 { // nothing replaces it behind the learner's back
		f.clock.Advance(time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	if s := l.Session(); s.State != store.StateFailed {
		t.Fatalf("session %+v 20 s later; want it left failed", s)
	}

	l.RestartStep(context.Background())
	if s := l.Session(); s.State != store.StateReady || s.Step != 2 || s.Cluster == "" {
		t.Errorf("after the learner asked for a fresh cluster: %+v; want ready on step 2", s)
	}
}
