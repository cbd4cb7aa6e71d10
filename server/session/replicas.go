package session

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/server/store"
)

// Replicas. kindlab replicas sharing a PostgreSQL database serve one
// workshop: each runs the sessions it owns (it started them, or took them
// over) and beats in the store's replica table every Lease/4. A replica that
// has not beaten for Lease is gone: any other takes its sessions over (the
// store's claim lets exactly one win), reconnecting them to their clusters as
// after a restart, the learner kept on their step and shown their terminal's
// earlier output. Requests for a session another live replica owns are
// passed to it by package server (Owner).

// ErrGone is returned for a session that is not stored, or has ended.
var ErrGone = errors.New("session: no such session")

// replicated reports whether this Manager shares its store with replicas.
func (m *Manager) replicated() bool { return m.cfg.Lease > 0 }

// beat records this replica as alive every Lease/4 until ctx ends; then it
// leaves the replica table, so that the others take its sessions at once.
// Taking over the sessions of replicas gone silent, every Lease/2, runs
// beside it: bringing a session in and deleting a gone replica's clusters
// take seconds, and a heartbeat that waited for them would let this
// replica's lease run out, and another replica take its learners.
func (m *Manager) beat(ctx context.Context) {
	go clock.Every(ctx, m.cfg.Clock, m.cfg.Lease/2, func() { m.TakeOver(ctx) })
	beat := m.cfg.Clock.NewTicker(m.cfg.Lease / 4)
	defer beat.Stop()
	m.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := m.cfg.Store.ForgetReplica(ctx, m.cfg.Replica); err != nil {
				m.cfg.Logger.Warn("leave the replica table", "error", err)
			}
			return
		case <-beat.C():
		}
		m.heartbeat(ctx)
	}
}

func (m *Manager) heartbeat(ctx context.Context) {
	err := m.cfg.Store.Heartbeat(ctx, store.Replica{ID: m.cfg.Replica, URL: m.cfg.ReplicaURL, Seen: m.cfg.Clock.Now()})
	if err != nil {
		m.cfg.Logger.Warn("heartbeat; trying again", "error", err)
	}
}

// live returns the replicas alive now, by ID.
func (m *Manager) live(ctx context.Context) (map[string]store.Replica, error) {
	rs, err := m.cfg.Store.Replicas(ctx, m.cfg.Clock.Now().Add(-m.cfg.Lease))
	if err != nil {
		return nil, err
	}
	out := map[string]store.Replica{}
	for _, r := range rs {
		out[r.ID] = r
	}
	return out, nil
}

// deleteOrphans deletes the pool clusters that no session holds (held names
// those some session does) and that no live replica's pool may be making or
// keeping warm: those whose name carries the tag of a replica that is gone
// (cluster.PoolTag) and, at start (this replica's pool is empty then), this
// replica's own; at start with no other replica alive, every one.
func (m *Manager) deleteOrphans(ctx context.Context, held map[string]bool, atStart bool) error {
	self := cluster.PoolTag(m.cfg.Replica)
	liveTags, alone := map[string]bool{self: !atStart}, true
	if m.replicated() {
		live, err := m.live(ctx)
		if err != nil {
			return err
		}
		for id := range live {
			if id != m.cfg.Replica {
				liveTags[cluster.PoolTag(id)], alone = true, false
			}
		}
	}
	names, err := m.cfg.Clusters.List(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if held[n] || !strings.HasPrefix(n, cluster.PoolPrefix) {
			continue
		}
		tag := cluster.PoolMaker(n)
		if !(atStart && alone) && (tag == "" || liveTags[tag]) {
			continue // another replica's, or made before pools tagged their clusters
		}
		m.cfg.Logger.Info("deleting orphan cluster", "cluster", n)
		if err := m.cfg.Clusters.Delete(ctx, n); err != nil {
			m.cfg.Logger.Error("delete orphan", "cluster", n, "error", err)
		}
	}
	return nil
}

// TakeOver takes over the live sessions of replicas that are gone, lets go of
// the sessions another replica took over from this one (it was thought gone:
// its database was out of reach for longer than the lease), and deletes the
// clusters the pools of replicas that are gone left warm or half made.
func (m *Manager) TakeOver(ctx context.Context) {
	live, err := m.live(ctx)
	if err != nil {
		m.cfg.Logger.Warn("replicas: the store did not answer", "error", err)
		return
	}
	sessions, err := m.cfg.Store.Sessions(ctx, "")
	if err != nil {
		m.cfg.Logger.Warn("replicas: the store did not answer", "error", err)
		return
	}
	for _, sess := range sessions {
		if sess.State == store.StateExpired {
			continue
		}
		_, here := m.Get(sess.ID)
		switch _, alive := live[sess.Owner]; {
		case here && sess.Owner != m.cfg.Replica:
			// Read again: this replica may have taken it over since the list.
			if now, err := m.cfg.Store.Session(ctx, sess.ID); err == nil && now.Owner != m.cfg.Replica {
				m.letGo(sess.ID, now.Owner)
			}
		case !here && !alive:
			m.takeOver(ctx, sess)
		}
	}
	if sessions, err = m.cfg.Store.Sessions(ctx, ""); err != nil { // with the clusters taken over
		return
	}
	held := map[string]bool{}
	for _, sess := range sessions {
		if sess.State != store.StateExpired && sess.Cluster != "" {
			held[sess.Cluster] = true
		}
	}
	if err := m.deleteOrphans(ctx, held, false); err != nil {
		m.cfg.Logger.Warn("replicas: orphan clusters", "error", err)
	}
}

// takeOver claims sess from its owner and brings it back here; it reports
// false when another replica claimed it first.
func (m *Manager) takeOver(ctx context.Context, sess store.Session) bool {
	return m.once(sess.ID, func() bool {
		won, err := m.cfg.Store.ClaimSession(ctx, sess.ID, sess.Owner, m.cfg.Replica)
		if err != nil || !won {
			return false
		}
		m.cfg.Logger.Info("session taken over", "session", sess.ID, "from", sess.Owner)
		sess.Owner = m.cfg.Replica
		m.recoverSession(ctx, sess)
		return true
	})
}

// once runs bring for session id unless it runs here already; a caller
// that finds bring under way for id waits for it (a page's stream and its
// terminal both ask for a session that is being taken over).
func (m *Manager) once(id string, bring func() bool) bool {
	m.mu.Lock()
	if _, ok := m.learners[id]; ok {
		m.mu.Unlock()
		return true
	}
	if wait, ok := m.taking[id]; ok {
		m.mu.Unlock()
		<-wait
		_, ok := m.Get(id)
		return ok
	}
	done := make(chan struct{})
	m.taking[id] = done
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.taking, id)
		m.mu.Unlock()
		close(done)
	}()
	return bring()
}

// letGo stops running a session here without giving up its cluster: another
// replica runs it now.
func (m *Manager) letGo(id, owner string) {
	l, ok := m.Get(id)
	if !ok {
		return
	}
	m.cfg.Logger.Warn("session taken over by another replica; letting it go", "session", id, "owner", owner)
	l.stop()
	l.mu.Lock()
	l.disconnect()
	l.mu.Unlock()
	m.mu.Lock()
	delete(m.learners, id)
	m.mu.Unlock()
}

// Owner tells where session id runs: here (local, once it was taken over if
// its replica is gone), or at the URL of the live replica that owns it.
// ErrGone: the session is not stored or has ended.
func (m *Manager) Owner(ctx context.Context, id string) (url string, local bool, err error) {
	if _, ok := m.Get(id); ok {
		return "", true, nil
	}
	sess, err := m.cfg.Store.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.State == store.StateExpired) {
		return "", false, ErrGone
	}
	if err != nil {
		return "", false, err
	}
	if !m.replicated() {
		return "", false, ErrGone // stored, but not running: it ended before a restart
	}
	live, err := m.live(ctx)
	if err != nil {
		return "", false, err
	}
	if r, ok := live[sess.Owner]; ok && sess.Owner != m.cfg.Replica && r.URL != "" {
		return r.URL, false, nil
	}
	return "", m.bring(ctx, sess), nil
}

// TakeOverNow takes session id over from its owner, alive or not (a request
// passed to it failed: it is gone though its lease has not run out), and
// reports whether it runs here now.
func (m *Manager) TakeOverNow(ctx context.Context, id string) bool {
	if _, ok := m.Get(id); ok {
		return true
	}
	if !m.replicated() {
		return false
	}
	sess, err := m.cfg.Store.Session(ctx, id)
	if err != nil || sess.State == store.StateExpired {
		return false
	}
	return m.bring(ctx, sess)
}

// bring makes stored session sess run here: taken over from its owner, or,
// when the store says this replica owns it already, brought back.
func (m *Manager) bring(ctx context.Context, sess store.Session) bool {
	if sess.Owner != m.cfg.Replica {
		return m.takeOver(ctx, sess)
	}
	return m.once(sess.ID, func() bool {
		m.recoverSession(ctx, sess)
		_, ok := m.Get(sess.ID)
		return ok
	})
}
