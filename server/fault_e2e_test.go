//go:build e2e

package server_test

import (
	"bufio"
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/server"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/workshop"
)

// TestE2EClusterLost: on services-dns step 2, after step 1's work, the learner's
// node container is killed (what the OOM killer or a Docker restart does to it).
// kindlab declares the cluster lost within 10 s, tells the learner in plain
// words, replaces the cluster from the pool, redoes step 1 on it and keeps the
// learner on step 2 with a working terminal. It logs the time from the kill to
// usable again. Then "Start this step again" does the same on purpose.
func TestE2EClusterLost(t *testing.T) {
	p := startServer(t, newManager(t), filepath.Join(t.TempDir(), "kindlab.db"), 1,
		func(c *server.Config) { c.HealthEvery = 2 * time.Second })
	ctx := context.Background()
	c, sessionURL := startSession(t, p.URL)
	sid := sessionID(t, strings.TrimPrefix(sessionURL, p.URL))
	conn := openTerminal(t, c, sessionURL)
	sh := &shell{t: t, conn: conn}
	sh.must(`kubectl apply -f homepage.yaml && kubectl rollout status deploy/homepage --timeout=120s`)
	resp, err := c.PostForm(sessionURL+"/step", url.Values{"step": {"2"}, "csrf": {pageCSRF(t, c, sessionURL)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before, err := p.db.Session(ctx, sid)
	if err != nil || before.Step != 2 {
		t.Fatalf("session before the fault: %+v, %v", before, err)
	}

	// What the learner's page hears.
	events, err := c.Get(sessionURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	told := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(events.Body)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Your cluster stopped") {
				told <- sc.Text()
			}
		}
	}()

	killed := time.Now()
	if out, err := exec.Command("docker", "kill", before.Cluster+"-control-plane").CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v: %s", err, out)
	}
	conn.Close()
	lost := waitEvent(t, p, sid, workshop.KindLost, 30*time.Second)
	t.Logf("cluster declared lost %s after the kill", lost.Sub(killed).Round(100*time.Millisecond))
	if lost.Sub(killed) > 10*time.Second {
		t.Errorf("the lost cluster was noticed after %s; want within 10 s", lost.Sub(killed))
	}
	select {
	case msg := <-told:
		if !strings.Contains(msg, "step 2") || strings.Contains(msg, "dial tcp") {
			t.Errorf("the page was told %q; want plain words naming step 2", msg)
		}
	case <-time.After(10 * time.Second):
		t.Error("the page was not told the cluster stopped")
	}
	recovered := waitEvent(t, p, sid, workshop.KindRecovered, 6*time.Minute)
	after, err := p.db.Session(ctx, sid)
	if err != nil || after.Cluster == before.Cluster || after.Step != 2 || after.State != store.StateReady {
		t.Fatalf("session after the recovery: %+v, %v; want ready on a new cluster at step 2", after, err)
	}

	// The terminal works on the new cluster, and step 1's work is there.
	conn2 := openTerminal(t, c, sessionURL)
	defer conn2.Close()
	sh2 := &shell{t: t, conn: conn2}
	if out := sh2.must(`kubectl get deploy homepage -o name`); !strings.Contains(out, "deployment.apps/homepage") {
		t.Errorf("step 1's Deployment is not on the new cluster:\n%s", out)
	}
	t.Logf("fault to usable again (new cluster, step 1 redone, terminal answering): %s (recovered event at %s)",
		time.Since(killed).Round(100*time.Millisecond), recovered.Sub(killed).Round(100*time.Millisecond))

	// "Start this step again" takes the same path on purpose: a fresh cluster,
	// step 1 redone, still on step 2.
	conn2.Close()
	clicked := time.Now()
	resp, err = c.PostForm(sessionURL+"/reset", url.Values{"keep": {"steps"}, "csrf": {pageCSRF(t, c, sessionURL)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(6 * time.Minute)
	for {
		s, err := p.db.Session(ctx, sid)
		if err == nil && s.Cluster != after.Cluster && s.Cluster != "" && s.State == store.StateReady && recoveries(t, p, sid) == 2 {
			if s.Step != 2 {
				t.Errorf("after Start this step again the session is on step %d; want 2", s.Step)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Start this step again did not finish: %+v, %v", s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	conn3 := openTerminal(t, c, sessionURL)
	defer conn3.Close()
	if out := (&shell{t: t, conn: conn3}).must(`kubectl get deploy homepage -o name`); !strings.Contains(out, "deployment.apps/homepage") {
		t.Errorf("step 1's Deployment is not on the fresh cluster:\n%s", out)
	}
	t.Logf("Start this step again, click to usable: %s", time.Since(clicked).Round(100*time.Millisecond))
}

// recoveries counts session sid's recovered events.
func recoveries(t *testing.T, p *platform, sid string) int {
	events, err := p.db.Events(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Kind == workshop.KindRecovered {
			n++
		}
	}
	return n
}

// waitEvent waits for session sid's first event of kind and returns its time.
func waitEvent(t *testing.T, p *platform, sid string, kind workshop.Kind, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		events, err := p.db.Events(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.Kind == kind {
				return e.At
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %s; events: %+v", kind, timeout, events)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
