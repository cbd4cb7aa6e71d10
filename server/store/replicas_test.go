package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/store/storetest"
)

// TestReplicas: replicas that beat are alive, one that stopped beating is
// not, one that left is gone; of replicas claiming a dead one's session at
// once exactly one wins; each replica reads the workshop events the others
// recorded, not its own.
func TestReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, where string) {
		ctx := context.Background()
		s := open(t, where)
		now := time.UnixMilli(1_700_000_000_000)
		for _, r := range []store.Replica{
			{ID: "a", URL: "http://10.0.0.1:8080", Seen: now.Add(-time.Minute)},
			{ID: "b", URL: "http://10.0.0.2:8080", Seen: now},
			{ID: "c", URL: "http://10.0.0.3:8080", Seen: now},
		} {
			if err := s.Heartbeat(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Heartbeat(ctx, store.Replica{ID: "b", URL: "http://10.0.0.9:8080", Seen: now.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if err := s.ForgetReplica(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		live, err := s.Replicas(ctx, now.Add(-10*time.Second))
		if err != nil || len(live) != 1 || live[0].ID != "b" || live[0].URL != "http://10.0.0.9:8080" || !live[0].Seen.Equal(now.Add(time.Second)) {
			t.Errorf("live replicas = %+v, %v; want b alone, at its new address and beat", live, err)
		}

		if err := s.CreateSession(ctx, store.Session{ID: "s1", Lab: "numbers", Owner: "a", Created: now, LastSeen: now, Expires: now}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Session(ctx, "s1"); got.Owner != "a" {
			t.Errorf("owner = %q; want a", got.Owner)
		}
		var wg sync.WaitGroup
		won := make([]bool, 4)
		for i := range won {
			wg.Go(func() {
				ok, err := s.ClaimSession(ctx, "s1", "a", string(rune('p'+i)))
				if err != nil {
					t.Error(err)
				}
				won[i] = ok
			})
		}
		wg.Wait()
		winners := 0
		for _, w := range won {
			if w {
				winners++
			}
		}
		got, _ := s.Session(ctx, "s1")
		if winners != 1 || got.Owner == "a" {
			t.Errorf("%d replicas won the claim (owner now %q); want exactly one", winners, got.Owner)
		}
		if ok, _ := s.ClaimSession(ctx, "s1", "a", "z"); ok {
			t.Error("a claim from a former owner won")
		}

		for i, origin := range []string{"a", "b", "a", "b"} {
			if err := s.AddEvent(ctx, store.Event{At: now.Add(time.Duration(i) * time.Second), Session: "s1", Kind: activity.KindStepPass, Step: i + 1, Workshop: "w1", Origin: origin}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddEvent(ctx, store.Event{At: now, Session: "s1", Kind: activity.KindStepPass, Origin: "a"}); err != nil { // not a workshop's
			t.Fatal(err)
		}
		evs, err := s.WorkshopEventsAfter(ctx, 0, "b", 100)
		if err != nil || len(evs) != 2 || evs[0].Step != 1 || evs[1].Step != 3 || evs[0].Workshop != "w1" || evs[0].Lab != "numbers" || evs[0].ID == 0 {
			t.Fatalf("events for b = %+v, %v; want a's workshop events, steps 1 and 3", evs, err)
		}
		if more, err := s.WorkshopEventsAfter(ctx, evs[0].ID, "b", 100); err != nil || len(more) != 1 || more[0].Step != 3 {
			t.Errorf("events for b after the first = %+v, %v; want step 3's", more, err)
		}
	})
}

// TestRunningByClient: a client's sessions that hold or wait for a cluster
// count, on every replica; ended and failed ones do not.
func TestRunningByClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, where string) {
		ctx := context.Background()
		s := open(t, where)
		now := time.UnixMilli(1_700_000_000_000)
		for i, st := range []store.State{store.StateProvisioning, store.StateReady, store.StateFailed, store.StateExpired} {
			x := store.Session{ID: string(rune('a' + i)), Lab: "numbers", State: st, Client: "192.0.2.1", Owner: string(rune('p' + i%2)), Created: now, LastSeen: now, Expires: now}
			if err := s.CreateSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateSession(ctx, store.Session{ID: "other", Lab: "numbers", State: store.StateReady, Client: "192.0.2.2", Created: now, LastSeen: now, Expires: now}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Running(ctx, "192.0.2.1"); err != nil || n != 2 {
			t.Errorf("Running = %d, %v; want 2 (provisioning and ready, across replicas)", n, err)
		}
		if got, _ := s.Session(ctx, "a"); got.Client != "192.0.2.1" {
			t.Errorf("stored client = %q", got.Client)
		}
	})
}
