package session_test

import (
	"context"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/session"
	"github.com/kindlab/kindlab/server/store"
)

// TestOrphansOfGoneReplicas: each replica's pool tags the names of the
// clusters it makes. Once a replica is gone, the next TakeOver of a live one
// takes its learner over (on the same cluster) and deletes what its pool left
// warm; the live replicas' clusters, untagged pool clusters and clusters that
// are not a pool's stay. A replica that starts again deletes its earlier run's
// warm clusters even with others alive; one that starts alone deletes every
// pool cluster no session holds.
func TestOrphansOfGoneReplicas(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	replica := func(name string) (*session.Manager, context.CancelFunc) { return newReplica(t, f, name) }
	gone := func(name string) { leftTheTable(t, f, name) }
	warm := func(replica string) string { return cluster.PoolPrefix + cluster.PoolTag(replica) + "-0123abcd" }
	untagged, other := cluster.PoolPrefix+"4567cdef", cluster.Prefix+"ada"

	a, stopA := replica("a")
	f.clusters.MadeBy("a")
	l, token, err := a.Start(ctx, "192.0.2.1", testLab, "", "", "")
	if err != nil || token == "" {
		t.Fatal(err)
	}
	events, stop := l.Subscribe()
	t.Cleanup(stop)
	waitFor(t, events, "ready progress", ready)
	held := l.Session().Cluster
	for _, n := range []string{warm("a"), warm("b"), warm("c"), untagged, other} {
		f.clusters.Add(n)
	}
	b, stopB := replica("b")
	if err := f.store.Heartbeat(ctx, store.Replica{ID: "c", Seen: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}

	for _, s := range []struct {
		what string
		do   func()
		kept []string
	}{
		{"every replica alive", func() { b.TakeOver(ctx) },
			[]string{held, warm("a"), warm("b"), warm("c"), untagged, other}},
		{"a gone: b takes its learner over", func() { stopA(); gone("a"); b.TakeOver(ctx) },
			[]string{held, warm("b"), warm("c"), untagged, other}},
		{"b starts again, c alive", func() {
			stopB()
			gone("b")
			b, stopB = replica("b")
			if err := b.Recover(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}, []string{held, warm("c"), untagged, other}},
		{"c silent for longer than the lease", func() {
			if err := f.store.Heartbeat(ctx, store.Replica{ID: "c", Seen: f.clock.Now().Add(-2 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			b.TakeOver(ctx)
		}, []string{held, untagged, other}},
		{"b starts again alone", func() {
			stopB()
			gone("b")
			b, stopB = replica("b")
			if err := b.Recover(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}, []string{held, other}},
	} {
		s.do()
		got, _ := f.clusters.List(ctx)
		slices.Sort(got)
		slices.Sort(s.kept)
		if !slices.Equal(got, s.kept) {
			t.Errorf("%s: clusters %v; want %v", s.what, got, s.kept)
		}
	}
	if sess, err := f.store.Session(ctx, l.ID()); err != nil || sess.Owner != "b" || sess.Cluster != held {
		t.Errorf("a's learner: %+v, %v; want run by b on %s", sess, err, held)
	}
}

// newReplica starts a replica named name on f's store and clusters, with a
// lease of a minute.
func newReplica(t *testing.T, f *fixture, name string) (*session.Manager, context.CancelFunc) {
	t.Helper()
	mctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m, err := session.New(mctx, session.Config{
		Catalog:   &labs.Catalog{Labs: []*labs.Lab{testLab}},
		Manifests: fstest.MapFS{"cm-lab/notes.txt": {Data: []byte("hello")}},
		Store:     f.store, Pool: f.clusters, Clusters: f.clusters, Connect: f.clusters.Connect, Limits: f.limits,
		Clock: f.clock, MaxAge: time.Hour, Replica: name, Lease: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, cancel
}

// leftTheTable waits for a stopped replica to leave the replica table.
func leftTheTable(t *testing.T, f *fixture, name string) {
	t.Helper()
	waitUntil(t, func() bool {
		live, _ := f.store.Replicas(context.Background(), time.Time{})
		return !slices.ContainsFunc(live, func(r store.Replica) bool { return r.ID == name })
	}, name+" left the replica table")
}

// TestReplicaBeatsWhileTakingOver: a replica taking a gone replica's learner
// over, and deleting what its pool left warm, keeps beating however long
// that takes (deleting a pod on a busy host cluster takes tens of seconds):
// were it silent for its lease, another replica (the one started in the gone
// one's place) would take the learner from it.
func TestReplicaBeatsWhileTakingOver(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, stopA := newReplica(t, f, "a")
	f.clusters.MadeBy("a")
	l, _, err := a.Start(ctx, "192.0.2.1", testLab, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	events, stop := l.Subscribe()
	t.Cleanup(stop)
	waitFor(t, events, "ready progress", ready)
	f.clusters.Add(cluster.PoolPrefix + cluster.PoolTag("a") + "-0123abcd") // a's pool's warm cluster
	newReplica(t, f, "b")
	release := f.clusters.HoldDeletes()
	defer release()
	stopA()
	leftTheTable(t, f, "a")

	for range 12 { // three minutes: b takes a's learner over, then waits on the delete
		f.clock.Advance(15 * time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	waitUntil(t, func() bool {
		s, err := f.store.Session(ctx, l.ID())
		return err == nil && s.Owner == "b"
	}, "b runs a's learner")
	live, err := f.store.Replicas(ctx, f.clock.Now().Add(-time.Minute))
	if err != nil || !slices.ContainsFunc(live, func(r store.Replica) bool { return r.ID == "b" }) {
		t.Errorf("live replicas %v (%v) while b deletes a's warm cluster; want b among them", live, err)
	}
}
