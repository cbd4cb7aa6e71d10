package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCreator creates clusters instantly, or when released through gate.
type fakeCreator struct {
	mu      sync.Mutex
	live    map[string]bool
	gate    chan struct{} // when non-nil, each create waits for a value
	fail    atomic.Int32  // creates to fail before succeeding
	created atomic.Int32
	// halfMade makes failed creates leave their cluster behind; deleteFails
	// is how many deletes fail (the Docker engine down) before they work.
	halfMade    bool
	deleteFails atomic.Int32
}

func (f *fakeCreator) Create(ctx context.Context, name string) (*Cluster, error) {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail.Load() > 0 {
		f.fail.Add(-1)
		if f.halfMade {
			f.mu.Lock()
			f.live[name] = true
			f.mu.Unlock()
		}
		return nil, errors.New("boom")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live[name] = true
	f.created.Add(1)
	return &Cluster{Name: name}, nil
}

func (f *fakeCreator) Delete(ctx context.Context, name string) error {
	if f.deleteFails.Add(-1) >= 0 {
		return errors.New("Cannot connect to the Docker daemon")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[name] {
		return ErrNotFound
	}
	delete(f.live, name)
	return nil
}

func (f *fakeCreator) exists(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live[name]
}

func (f *fakeCreator) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolWarmClaimRefill(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}}
	prepared := atomic.Int32{}
	p := NewPool(f, PoolOptions{Warm: 2, Max: 3, Prepare: func(context.Context, *Cluster) error { prepared.Add(1); return nil }})
	go p.Run(ctx)
	eventually(t, "two warm clusters", func() bool { return p.Stats().Warm == 2 })

	c, err := p.Claim(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !f.exists(c.Name) {
		t.Errorf("claimed %s, which does not exist", c.Name)
	}
	// The pool refills to 2 warm while 1 is claimed: 3 in total, the maximum.
	eventually(t, "refill", func() bool { s := p.Stats(); return s.Warm == 2 && s.Claimed == 1 })
	if f.count() != 3 {
		t.Errorf("%d clusters exist; want 3 (max)", f.count())
	}
	if prepared.Load() != 3 {
		t.Errorf("prepared %d clusters; want every created one (3)", prepared.Load())
	}
}

func TestPoolQueueWhenFull(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}}
	p := NewPool(f, PoolOptions{Warm: 1, Max: 1})
	go p.Run(ctx)
	first, err := p.Claim(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	positions := make(chan int, 10)
	got := make(chan *Cluster, 1)
	go func() {
		c, err := p.Claim(ctx, func(n int) { positions <- n })
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	if n := <-positions; n != 1 {
		t.Errorf("queue position = %d; want 1", n)
	}
	eventually(t, "a queued claim", func() bool { return p.Stats().Queue == 1 })
	if f.count() != 1 {
		t.Errorf("%d clusters while full; want 1 (max)", f.count())
	}
	if err := p.Release(ctx, first.Name); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c == nil || c.Name == first.Name {
			t.Errorf("queued claim got %v; want a new cluster", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued claim not served after a release")
	}
}

func TestPoolClaimCancelledLeavesQueue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}, gate: make(chan struct{})}
	p := NewPool(f, PoolOptions{Warm: 0, Max: 1})
	go p.Run(ctx)
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := p.Claim(cctx, nil); done <- err }()
	eventually(t, "queued", func() bool { return p.Stats().Queue == 1 })
	ccancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Claim error = %v; want context.Canceled", err)
	}
	if q := p.Stats().Queue; q != 0 {
		t.Errorf("queue = %d after cancel; want 0", q)
	}
}

func TestPoolRetriesFailedCreate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}}
	f.fail.Store(2)
	p := NewPool(f, PoolOptions{Warm: 1, Max: 1, Backoff: time.Millisecond})
	go p.Run(ctx)
	eventually(t, "a warm cluster after two failures", func() bool { return p.Stats().Warm == 1 })
}

// A cluster that comes up broken (Prepare fails: CoreDNS never ready, say) is
// deleted and replaced; a learner is never handed it.
func TestPoolThrowsBrokenClusterAway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}}
	var broken atomic.Value
	prepare := func(_ context.Context, c *Cluster) error {
		if broken.CompareAndSwap(nil, c.Name) {
			return errors.New("cluster DNS (CoreDNS) did not become ready")
		}
		return nil
	}
	p := NewPool(f, PoolOptions{Warm: 0, Max: 1, Backoff: time.Millisecond, Prepare: prepare})
	go p.Run(ctx)
	claimCtx, done := context.WithTimeout(ctx, 5*time.Second)
	defer done()
	c, err := p.Claim(claimCtx, nil)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if c.Name == broken.Load() {
		t.Fatalf("handed out the broken cluster %s", c.Name)
	}
	if f.exists(broken.Load().(string)) || f.created.Load() != 2 {
		t.Errorf("broken cluster still exists: %v; clusters created %d, want 2", f.exists(broken.Load().(string)), f.created.Load())
	}
}

// With the Docker engine down, a create fails half-way and deletes fail: the
// half-made cluster and a released one are deleted once the engine answers
// again, so none comes back with the engine unowned.
func TestPoolDeletesOnceTheEngineAnswers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}, halfMade: true}
	f.fail.Store(1)
	f.deleteFails.Store(3)
	p := NewPool(f, PoolOptions{Warm: 1, Max: 2, Backoff: time.Millisecond, RetryDelete: time.Millisecond})
	go p.Run(ctx)
	eventually(t, "a warm cluster", func() bool { return p.Stats().Warm == 1 })
	c, err := p.Claim(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.deleteFails.Store(2)
	if err := p.Release(ctx, c.Name); err == nil {
		t.Error("Release said nothing of the failed delete")
	}
	eventually(t, "the released cluster deleted", func() bool { return !f.exists(c.Name) })
	eventually(t, "only the warm cluster left", func() bool { return f.count() == 1 && p.Stats().Warm == 1 })
}

// pausingCreator is a fakeCreator whose clusters can be paused; resuming the
// one named by stuck fails.
type pausingCreator struct {
	*fakeCreator
	mu     sync.Mutex
	paused map[string]bool
	stuck  string
}

func (p *pausingCreator) Pause(ctx context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused[name] = true
	return nil
}

func (p *pausingCreator) Resume(ctx context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name == p.stuck {
		return errors.New("cannot unpause: cgroup thaw failed")
	}
	delete(p.paused, name)
	return nil
}

func (p *pausingCreator) isPaused(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused[name]
}

func (p *pausingCreator) countPaused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.paused)
}

// Warm clusters beyond Hot wait paused; a claim gets a running one at once, and
// a paused one takes its place as the hot one.
func TestPoolPausesWarmClustersBeyondHot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &pausingCreator{fakeCreator: &fakeCreator{live: map[string]bool{}}, paused: map[string]bool{}}
	p := NewPool(f, PoolOptions{Warm: 3, Max: 6, Hot: 1})
	go p.Run(ctx)
	eventually(t, "three warm clusters, two of them paused", func() bool {
		s := p.Stats()
		return s.Warm == 3 && s.Paused == 2 && f.countPaused() == 2
	})
	for i := range 4 {
		var hot string
		p.mu.Lock()
		for _, w := range p.warm {
			if !f.isPaused(w.Name) {
				hot = w.Name
			}
		}
		p.mu.Unlock()
		c, err := p.Claim(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != hot || f.isPaused(c.Name) {
			t.Fatalf("claim %d got %s (paused: %v); want the running %s", i+1, c.Name, f.isPaused(c.Name), hot)
		}
		eventually(t, "the pool back to one hot and two paused", func() bool {
			s := p.Stats()
			return s.Warm == min(3, 6-(i+1)) && s.Warm-s.Paused == 1 && f.countPaused() == s.Paused
		})
	}
}

// Hot 0 pauses every warm cluster; a claim resumes one. One that does not
// resume is deleted and the claim gets another.
func TestPoolResumesOnClaimAndDropsClusterThatDoesNot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &pausingCreator{fakeCreator: &fakeCreator{live: map[string]bool{}}, paused: map[string]bool{}}
	p := NewPool(f, PoolOptions{Warm: 2, Max: 3, Hot: 0})
	go p.Run(ctx)
	eventually(t, "two paused warm clusters", func() bool { return p.Stats().Paused == 2 && f.countPaused() == 2 })
	p.mu.Lock()
	f.mu.Lock()
	f.stuck = p.warm[0].Name
	f.mu.Unlock()
	p.mu.Unlock()
	c, err := p.Claim(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name == f.stuck || f.isPaused(c.Name) {
		t.Fatalf("claim got %s (stuck: %s, paused: %v)", c.Name, f.stuck, f.isPaused(c.Name))
	}
	eventually(t, "the stuck cluster deleted", func() bool { return !f.exists(f.stuck) })
}

// Hot below zero never pauses.
func TestPoolHotBelowZeroNeverPauses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &pausingCreator{fakeCreator: &fakeCreator{live: map[string]bool{}}, paused: map[string]bool{}}
	p := NewPool(f, PoolOptions{Warm: 2, Max: 2, Hot: -1})
	go p.Run(ctx)
	eventually(t, "two warm clusters", func() bool { return p.Stats().Warm == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := f.countPaused(); n != 0 || p.Stats().Paused != 0 {
		t.Errorf("%d clusters paused with Hot -1; want 0", n)
	}
}

// A claimed cluster is replaced RefillAfter later, not at once.
func TestPoolRefillsAfterTheClaim(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}}
	p := NewPool(f, PoolOptions{Warm: 1, Max: 2, RefillAfter: 300 * time.Millisecond})
	go p.Run(ctx)
	eventually(t, "a warm cluster", func() bool { return p.Stats().Warm == 1 })
	claimed := time.Now()
	if _, err := p.Claim(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refill", func() bool { return f.created.Load() == 2 })
	if took := time.Since(claimed); took < 300*time.Millisecond {
		t.Errorf("refill began %v after the claim; want RefillAfter (300ms) or more", took)
	}
}

// TestPoolTagsItsClusters: a pool's clusters carry its replica's tag, which
// PoolMaker reads back; names without one give "".
func TestPoolTagsItsClusters(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeCreator{live: map[string]bool{}}
	p := NewPool(f, PoolOptions{Warm: 1, Tag: PoolTag("kindlab-7d9f-x2x4z")})
	go p.Run(ctx)
	c, err := p.Claim(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FullName(c.Name); err != nil {
		t.Errorf("the pool's cluster name: %v", err)
	}
	for _, n := range []struct{ name, tag string }{
		{c.Name, PoolTag("kindlab-7d9f-x2x4z")},
		{PoolPrefix + "0123abcd", ""},
		{PoolPrefix + "fake-1", ""},
		{Prefix + "ada-1", ""},
	} {
		if got := PoolMaker(n.name); got != n.tag {
			t.Errorf("PoolMaker(%q) = %q; want %q", n.name, got, n.tag)
		}
	}
	if PoolTag("a") == PoolTag("b") {
		t.Error("two replicas' pools share a tag")
	}
}

// Wait, after Run's context ended, returns once a create cut short has
// deleted what it made: nothing of it is left for the caller to find.
func TestPoolWaitOutlastsACreateCutShort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeCreator{live: map[string]bool{}}
	preparing := make(chan struct{})
	p := NewPool(f, PoolOptions{Warm: 1, Max: 1, Prepare: func(ctx context.Context, c *Cluster) error {
		close(preparing)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // as kind takes its time cleaning up
		return ctx.Err()
	}})
	ran := make(chan struct{})
	go func() { p.Run(ctx); close(ran) }()
	<-preparing
	cancel()
	<-ran
	p.Wait()
	if n := f.count(); n != 0 {
		t.Errorf("%d clusters left once Wait returned; want the one cut short deleted", n)
	}
}
