package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// PoolPrefix names pooled clusters: kindlab-p-<random>.
const PoolPrefix = Prefix + "p-"

// Creator is what the pool needs of a Manager.
type Creator interface {
	Create(ctx context.Context, name string) (*Cluster, error)
	Delete(ctx context.Context, name string) error
}

// PoolOptions configure a Pool.
type PoolOptions struct {
	Warm int // clusters kept created and prepared ahead of demand
	Max  int // clusters in total: warm, being created and claimed
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

	mu       sync.Mutex
	warm     []*Cluster
	creating int
	claimed  map[string]bool
	queue    []*waiter
	kick     chan struct{}
	failures int
}

type waiter struct {
	got chan *Cluster
	pos chan int // latest queue position (1-based), buffered 1
}

// PoolStats is a snapshot of the pool.
type PoolStats struct {
	Warm, Creating, Claimed, Queue, Max int
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
	return &Pool{c: c, opts: opts, log: opts.Logger, claimed: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// Adopt puts a cluster found after a restart back in the pool, as claimed (a session
// owns it) or warm.
func (p *Pool) Adopt(c *Cluster, claimed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if claimed {
		p.claimed[c.Name] = true
	} else {
		p.warm = append(p.warm, c)
	}
}

// Stats returns a snapshot.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Warm: len(p.warm), Creating: p.creating, Claimed: len(p.claimed), Queue: len(p.queue), Max: p.opts.Max}
}

// Run creates clusters until ctx ends: enough to keep Warm clusters ready plus one
// for each queued claim, never more than Max in total.
func (p *Pool) Run(ctx context.Context) {
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
			go p.create(ctx)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
	}
}

func (p *Pool) signal() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *Pool) create(ctx context.Context) {
	name := PoolPrefix + randomSuffix()
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
		p.warm = append(p.warm, c)
		p.mu.Unlock()
	}
	p.log.Info("pool: cluster ready", "cluster", c.Name)
	p.signal()
}

// Claim takes a warm cluster, or waits in the queue for one. position, when not nil,
// is called with the 1-based queue position whenever it changes while waiting.
func (p *Pool) Claim(ctx context.Context, position func(int)) (*Cluster, error) {
	p.mu.Lock()
	if len(p.warm) > 0 {
		c := p.warm[0]
		p.warm = p.warm[1:]
		p.claimed[c.Name] = true
		p.mu.Unlock()
		p.signal() // refill
		return c, nil
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
