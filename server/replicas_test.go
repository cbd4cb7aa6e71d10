package server

import (
	"context"
	"testing"
	"time"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
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
	srv, err := New(Config{Catalog: cat, Manifests: manifests.FS(), Store: st, Pool: waitingPool{}, Clusters: sessiontest.New(t, nil), Replica: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); st.Close() })
	return srv
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
	w, _, err := a.ws.registry.Create(ctx, "Networking", []string{"services-dns"}, 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lab, _ := cat.Lab("services-dns")
	join := func(srv *Server, name string) *session.Learner {
		seat, err := srv.ws.registry.Join(ctx, w.Code, name)
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
	g, err := b.grid(ctx, w, lab.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.sessions.Record(ctx, workshop.Event{At: time.Now(), Workshop: w.ID, Session: ada.ID(), Lab: lab.ID, Kind: workshop.KindStepPass, Step: 1})
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

	a.sessions.Record(ctx, workshop.Event{At: time.Now(), Workshop: w.ID, Kind: workshop.KindMessage, Message: "Break until 11"})
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
