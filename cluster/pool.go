package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PoolPrefix names pooled clusters: kindlab-p-<tag>-<random>, where the tag
// (PoolTag) tells which kindlab replica's pool made the cluster.
const PoolPrefix = Prefix + "p-"

// PoolTag is the tag a replica's pool puts in its clusters' names: a short
// hash of the replica's name, so that the others can tell, once it is gone,
// which clusters its pool made.
func PoolTag(replica string) string {
	sum := sha256.Sum256([]byte(replica))
	return hex.EncodeToString(sum[:3])
}

// PoolMaker returns the tag in a pool cluster's name; "" when the name has
// none (made by an untagged pool, or not by a pool).
func PoolMaker(name string) string {
	rest, ok := strings.CutPrefix(name, PoolPrefix)
	if !ok {
		return ""
	}
	tag, _, ok := strings.Cut(rest, "-")
	if !ok || len(tag) != len(PoolTag("")) {
		return ""
	}
	return tag
}

// Creator is what the pool needs of a Manager.
type Creator interface {
	Create(ctx context.Context, name string) (*Cluster, error)
	Delete(ctx context.Context, name string) error
}

// Pauser freezes and thaws a cluster's node. A Creator that is also a Pauser
// (Manager is) lets the pool pause the warm clusters beyond PoolOptions.Hot.
type Pauser interface {
	Pause(ctx context.Context, name string) error
	Resume(ctx context.Context, name string) error
}

// PoolOptions configure a Pool.
type PoolOptions struct {
	Warm int // clusters kept created and prepared ahead of demand
	Max  int // clusters in total: warm, being created and claimed
	// Tag goes in the name of every cluster the pool makes (PoolTag of the
	// replica's name; empty: none).
	Tag string
	// Hot is how many warm clusters stay running for the next claims. The
	// others are paused (no CPU while they wait) and resumed when claimed, or
	// when a hot one is claimed and one must take its place. Negative: every
	// warm cluster runs. Only with a Creator that is also a Pauser.
	Hot int
	// RefillAfter is how long after a claim the pool starts to replace the
	// cluster it took (0: at once). A create takes both cores of a small host
	// for a while; waiting a few seconds lets the learner's start finish first.
	RefillAfter time.Duration
	// Prepare readies a new cluster for any learner (platform objects, workstation).
	Prepare func(ctx context.Context, c *Cluster) error
	Logger  *slog.Logger
	// Backoff after a failed create; doubles up to 2 minutes (default 10s).
	Backoff time.Duration
	// RetryDelete is how long to wait before deleting again a cluster whose
	// delete failed (default 5s).
	RetryDelete time.Duration
}

// Pool keeps warm clusters so that a learner's start claims one in well under a
// second. When every cluster is claimed and Max is reached, claims wait in a FIFO
// queue and learn their position.
type Pool struct {
	c    Creator
	opts PoolOptions
	log  *slog.Logger

	pauser Pauser // nil: warm clusters are never paused
	tidy   chan struct{}
	busy   sync.WaitGroup // creates and deletes under way (Wait)

	mu       sync.Mutex
	warm     []*warmCluster
	creating int
	claimed  map[string]bool
	queue    []*waiter
	kick     chan struct{}
	failures int
}

// warmCluster is a cluster in the pool, running or paused. mu is held while it
// is paused or resumed, so that a claim takes it only once it is either.
type warmCluster struct {
	*Cluster
	mu     sync.Mutex
	paused atomic.Bool
}

type waiter struct {
	got chan *Cluster
	pos chan int // latest queue position (1-based), buffered 1
}

// PoolStats is a snapshot of the pool.
type PoolStats struct {
	Warm, Creating, Claimed, Queue, Max int
	Paused                              int // of the warm clusters
}

// NewPool returns a pool; Run fills it.
func NewPool(c Creator, opts PoolOptions) *Pool {
	if opts.Max < opts.Warm {
		opts.Max = opts.Warm
	}
	if opts.Max <= 0 {
		opts.Max = 1
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 10 * time.Second
	}
	if opts.RetryDelete <= 0 {
		opts.RetryDelete = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Prepare == nil {
		opts.Prepare = func(context.Context, *Cluster) error { return nil }
	}
	p := &Pool{c: c, opts: opts, log: opts.Logger, claimed: map[string]bool{}, kick: make(chan struct{}, 1), tidy: make(chan struct{}, 1)}
	if pauser, ok := c.(Pauser); ok && opts.Hot >= 0 {
		p.pauser = pauser
	}
	return p
}

// Adopt puts a cluster found after a restart back in the pool, as claimed (a session
// owns it) or warm.
func (p *Pool) Adopt(c *Cluster, claimed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if claimed {
		p.claimed[c.Name] = true
	} else {
		p.warm = append(p.warm, &warmCluster{Cluster: c})
	}
}

// Stats returns a snapshot.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	paused := 0
	for _, w := range p.warm {
		if w.paused.Load() {
			paused++
		}
	}
	return PoolStats{Warm: len(p.warm), Creating: p.creating, Claimed: len(p.claimed), Queue: len(p.queue), Max: p.opts.Max, Paused: paused}
}

// Run creates clusters until ctx ends: enough to keep Warm clusters ready plus one
// for each queued claim, never more than Max in total.
func (p *Pool) Run(ctx context.Context) {
	if p.pauser != nil {
		go p.keepHot(ctx)
	}
	p.signal()
	for {
		p.mu.Lock()
		total := len(p.warm) + p.creating + len(p.claimed)
		want := p.opts.Warm + len(p.queue) - len(p.warm) - p.creating
		start := want > 0 && total < p.opts.Max
		if start {
			p.creating++
		}
		p.mu.Unlock()
		if start {
			p.busy.Go(func() { p.create(ctx) })
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
	}
}

// Wait returns once the creates and deletes under way have ended: after Run's
// context ended, a create has then cleaned up what it made (a delete the
// Docker engine refused goes on being tried in the background).
func (p *Pool) Wait() { p.busy.Wait() }

func (p *Pool) signal() {
	for _, ch := range []chan struct{}{p.kick, p.tidy} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (p *Pool) create(ctx context.Context) {
	name := PoolPrefix + randomSuffix()
	if p.opts.Tag != "" {
		name = PoolPrefix + p.opts.Tag + "-" + randomSuffix()
	}
	c, err := p.c.Create(ctx, name)
	if err == nil {
		if err = p.opts.Prepare(ctx, c); err != nil {
			err = fmt.Errorf("prepare %s: %w", name, err)
		}
	}
	if err != nil {
		// Whatever was made goes; with the Docker engine down (restarting), the
		// node would come back with the engine, so the delete is retried.
		p.deleteWhenPossible(context.WithoutCancel(ctx), name)
	}
	p.mu.Lock()
	p.creating--
	if err != nil {
		p.failures++
		wait := min(p.opts.Backoff<<min(p.failures-1, 4), 2*time.Minute)
		p.mu.Unlock()
		if ctx.Err() == nil {
			p.log.Error("pool: cluster create failed", "cluster", name, "retry_in", wait, "error", err)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		p.signal()
		return
	}
	p.failures = 0
	if len(p.queue) > 0 {
		w := p.queue[0]
		p.queue = p.queue[1:]
		p.claimed[c.Name] = true
		p.tellPositions()
		p.mu.Unlock()
		w.got <- c
	} else {
		p.warm = append(p.warm, &warmCluster{Cluster: c})
		p.mu.Unlock()
	}
	p.log.Info("pool: cluster ready", "cluster", c.Name)
	p.signal()
}

// Claim takes a warm cluster (a running one first; a paused one is resumed), or
// waits in the queue for one. position, when not nil, is called with the
// 1-based queue position whenever it changes while waiting.
func (p *Pool) Claim(ctx context.Context, position func(int)) (*Cluster, error) {
	for {
		p.mu.Lock()
		if len(p.warm) == 0 {
			break // p.mu held: wait in the queue
		}
		i := slices.IndexFunc(p.warm, func(w *warmCluster) bool { return !w.paused.Load() })
		w := p.warm[max(i, 0)]
		p.warm = slices.Delete(p.warm, max(i, 0), max(i, 0)+1)
		p.claimed[w.Name] = true
		p.mu.Unlock()
		time.AfterFunc(p.opts.RefillAfter, p.signal) // refill, and keep Hot clusters running
		if err := p.thaw(ctx, w); err != nil {
			p.log.Error("pool: a paused cluster did not resume; deleting it", "cluster", w.Name, "error", err)
			go p.Release(context.WithoutCancel(ctx), w.Name)
			continue
		}
		return w.Cluster, nil
	}
	w := &waiter{got: make(chan *Cluster, 1), pos: make(chan int, 1)}
	p.queue = append(p.queue, w)
	p.tellPositions()
	p.mu.Unlock()
	p.signal()
	for {
		select {
		case c := <-w.got:
			return c, nil
		case n := <-w.pos:
			if position != nil {
				position(n)
			}
		case <-ctx.Done():
			p.mu.Lock()
			if i := slices.Index(p.queue, w); i >= 0 {
				p.queue = slices.Delete(p.queue, i, i+1)
				p.tellPositions()
				p.mu.Unlock()
				return nil, ctx.Err()
			}
			p.mu.Unlock()
			// Handed a cluster as we gave up: give it back.
			c := <-w.got
			p.Release(context.WithoutCancel(ctx), c.Name)
			return nil, ctx.Err()
		}
	}
}

// thaw resumes a claimed cluster if it was paused (waiting for a pause under
// way to finish first).
func (p *Pool) thaw(ctx context.Context, w *warmCluster) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.paused.Load() {
		return nil
	}
	start := time.Now()
	if err := p.pauser.Resume(ctx, w.Name); err != nil {
		return err
	}
	w.paused.Store(false)
	p.log.Info("pool: resumed a paused cluster for a claim", "cluster", w.Name, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// keepHot pauses the warm clusters beyond Hot and resumes paused ones when
// fewer than Hot run, until ctx ends. A cluster Docker cannot pause or resume
// is deleted (the pool makes another).
func (p *Pool) keepHot(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.tidy:
		}
		for p.tidyOne(ctx) {
		}
	}
}

// tidyOne pauses or resumes one warm cluster if one needs it, and reports
// whether it did anything.
func (p *Pool) tidyOne(ctx context.Context) bool {
	p.mu.Lock()
	var running, paused []*warmCluster
	for _, w := range p.warm {
		if w.paused.Load() {
			paused = append(paused, w)
		} else {
			running = append(running, w)
		}
	}
	var w *warmCluster
	pause := len(running) > p.opts.Hot
	switch {
	case pause:
		w = running[len(running)-1]
	case len(running) < p.opts.Hot && len(paused) > 0:
		w = paused[0]
	}
	p.mu.Unlock()
	if w == nil || ctx.Err() != nil {
		return false
	}
	w.mu.Lock()
	p.mu.Lock()
	stillWarm := slices.Contains(p.warm, w)
	p.mu.Unlock()
	var err error
	if stillWarm {
		if pause {
			err = p.pauser.Pause(ctx, w.Name)
		} else {
			err = p.pauser.Resume(ctx, w.Name)
		}
		if err == nil {
			w.paused.Store(pause)
		}
	}
	w.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		p.log.Error("pool: could not pause or resume a warm cluster; deleting it", "cluster", w.Name, "error", err)
		p.mu.Lock()
		p.warm = slices.DeleteFunc(p.warm, func(x *warmCluster) bool { return x == w })
		p.mu.Unlock()
		p.deleteWhenPossible(context.WithoutCancel(ctx), w.Name)
		p.signal()
	}
	return ctx.Err() == nil
}

// tellPositions sends each waiter its position; p.mu must be held.
func (p *Pool) tellPositions() {
	for i, w := range p.queue {
		select {
		case <-w.pos:
		default:
		}
		w.pos <- i + 1
	}
}

// Release deletes a claimed cluster and frees its capacity for the next learner.
func (p *Pool) Release(ctx context.Context, name string) error {
	p.busy.Add(1)
	defer p.busy.Done()
	p.mu.Lock()
	delete(p.claimed, name)
	p.mu.Unlock()
	defer p.signal()
	return p.deleteWhenPossible(ctx, name)
}

// deleteWhenPossible deletes cluster name. When that fails (the Docker engine
// not answering, say), it says why and goes on trying every RetryDelete for ten
// minutes in the background, so that no cluster outlives kindlab's interest.
func (p *Pool) deleteWhenPossible(ctx context.Context, name string) error {
	err := p.c.Delete(ctx, name)
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	p.log.Warn("pool: could not delete cluster; trying again", "cluster", name, "error", err)
	go func() {
		ctx := context.WithoutCancel(ctx)
		giveUp := time.Now().Add(10 * time.Minute)
		for try := 2; ; try++ {
			time.Sleep(p.opts.RetryDelete)
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := p.c.Delete(dctx, name)
			cancel()
			switch {
			case err == nil || errors.Is(err, ErrNotFound):
				p.log.Info("pool: cluster deleted after all", "cluster", name, "tries", try)
				return
			case time.Now().After(giveUp):
				p.log.Error("pool: gave up deleting cluster; kindlab deletes it at its next start", "cluster", name, "error", err)
				return
			}
		}
	}()
	return err
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
