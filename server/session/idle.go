package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kindlab/kindlab/cluster/workstation"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/server/workshop"
)

// An idle learner's cluster is paused (Docker's freezer: its processes stop
// where they are and use no CPU) and woken by what the learner does next: a
// keystroke, the lab page, the terminal, an app link, a fast-forward. While it
// sleeps nothing runs against it (checks, namespace guard, health probes);
// the terminal's stream stays open (see workstation.Conn.Terminal), so what
// the learner types is taken by their same shell once the node thaws.

// wakeWithin bounds how long a woken cluster gets to answer again before it
// is replaced; a thawed node answers within a second (BenchmarkPauseResume).
const wakeWithin = 20 * time.Second

// Active records that the learner did something that needs their cluster,
// and wakes it in the background if it sleeps.
func (l *Learner) Active() {
	l.mu.Lock()
	now := l.m.cfg.Clock.Now()
	l.active, l.sess.LastSeen = now, now
	asleep := l.asleep
	l.mu.Unlock()
	if asleep {
		go l.Wake(l.life)
	}
}

// Asleep reports whether the learner's cluster is paused because they went idle.
func (l *Learner) Asleep() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.asleep
}

// idleFor is how long ago the learner last did something: Active, or input
// or output in their terminal. A command still running in the terminal (a
// port-forward, a watch) keeps them active: it should not stop under them.
func (l *Learner) idleFor(now time.Time) time.Duration {
	l.mu.Lock()
	last, t := l.active, l.term
	l.mu.Unlock()
	if t == nil {
		return now.Sub(last)
	}
	if prompts, atPrompt := l.cmds.Prompts(); prompts > 0 && !atPrompt {
		return 0
	}
	if t.LastActivity().After(last) {
		last = t.LastActivity()
	}
	return now.Sub(last)
}

// sleep pauses the learner's cluster, which has sat idle for idle. A cluster
// that is being provisioned, reset or recovered is left alone.
func (l *Learner) sleep(ctx context.Context, idle time.Duration) {
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	l.mu.Lock()
	if l.busy || l.asleep || l.conn == nil || l.sess.State != store.StateReady || l.life.Err() != nil {
		l.mu.Unlock()
		return
	}
	name, step, term := l.sess.Cluster, l.sess.Step, l.term
	if term != nil {
		select {
		case <-term.Done(): // ended before: not the node's doing
			term = nil
		default:
		}
	}
	l.asleep = true
	l.stopWatching()
	asleep, woken := context.WithCancel(l.life)
	l.woken = woken
	l.mu.Unlock()
	if err := l.m.cfg.Clusters.Pause(ctx, name); err != nil {
		l.log.Warn("could not pause an idle learner's cluster; it keeps running", "cluster", name, "error", err)
		l.mu.Lock()
		l.asleep = false
		l.mu.Unlock()
		woken()
		l.watchAgain(ctx)
		return
	}
	l.log.Info("cluster paused: the learner is idle", "cluster", name, "idle", idle.Round(time.Second))
	l.record(ctx, workshop.KindPaused, step, "idle for "+idle.Round(time.Second).String())
	if term != nil {
		go l.wakeIfEnded(asleep, term)
	}
}

// wakeIfEnded wakes the learner's sleeping cluster if their terminal ends
// meanwhile: a frozen shell does not exit, so its node is gone or broken, and
// the wake finds out and replaces it before the learner is back.
func (l *Learner) wakeIfEnded(asleep context.Context, term *terminal.Session) {
	select {
	case <-term.Done():
	case <-asleep.Done(): // woken, reset or ended
		return
	}
	l.log.Warn("the terminal ended while the cluster slept; waking it")
	l.Wake(l.life)
}

// Wake resumes the learner's cluster if it sleeps, and returns once it answers
// and its checks run again. A cluster that does not wake within wakeWithin is
// replaced, the learner kept on their step, and Wake returns the error.
func (l *Learner) Wake(ctx context.Context) error {
	l.wakeMu.Lock()
	defer l.wakeMu.Unlock()
	l.mu.Lock()
	if !l.asleep {
		l.mu.Unlock()
		return nil
	}
	name, step, conn := l.sess.Cluster, l.sess.Step, l.conn
	l.mu.Unlock()
	start := l.m.cfg.Clock.Now()
	// Once begun, a wake is not given up with the request that asked for it:
	// a resume cut short would pass for a cluster that cannot wake.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wakeWithin)
	defer cancel()
	err := l.m.cfg.Clusters.Resume(wctx, name)
	if err == nil {
		err = l.answers(wctx, conn)
	}
	l.mu.Lock()
	current := l.asleep && l.conn == conn // not reset, lost or ended meanwhile
	l.asleep = false
	if l.woken != nil {
		l.woken()
	}
	l.mu.Unlock()
	if !current {
		return nil
	}
	if err != nil {
		l.log.Error("a paused cluster did not wake up; replacing it", "cluster", name, "error", err)
		go l.replace(context.WithoutCancel(l.life), workshop.KindLost, fmt.Sprintf(
			"Your cluster was paused while you were away and did not wake up. A new one is on its way, and you will be back on step %d with the work of the steps before it done for you.", step))
		return fmt.Errorf("wake cluster %s: %w", name, err)
	}
	if err := l.guardAgain(conn); err != nil {
		l.log.Error("namespace guard after waking; replacing the cluster", "cluster", name, "error", err)
		go l.replace(context.WithoutCancel(l.life), workshop.KindLost, fmt.Sprintf(
			"Your cluster did not come back properly after a pause. A new one is on its way, and you will be back on step %d with the work of the steps before it done for you.", step))
		return err
	}
	took := l.m.cfg.Clock.Now().Sub(start)
	l.log.Info("cluster woken", "cluster", name, "took", took.Round(time.Millisecond))
	// Recorded before the checks run again, so that the log reads in order:
	// woken, then whatever the learner's work passes.
	l.record(ctx, workshop.KindResumed, step, took.Round(time.Millisecond).String())
	l.watchAgain(ctx)
	return nil
}

// answers waits, until ctx ends (Wake bounds it by wakeWithin), for a thawed
// cluster's API server to answer and its workstation to run.
func (l *Learner) answers(ctx context.Context, conn *workstation.Conn) error {
	for {
		err := probe(ctx, conn, 3*time.Second, workstationRunning)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pauseIdle pauses the clusters of learners idle for PauseIdle, checking
// every quarter of it (at most every 30 s), until ctx ends.
func (m *Manager) pauseIdle(ctx context.Context) {
	clock.Every(ctx, m.cfg.Clock, min(max(m.cfg.PauseIdle/4, time.Second), 30*time.Second), func() { m.PauseIdleOnce(ctx) })
}

// PauseIdleOnce pauses, now, the cluster of every learner idle for PauseIdle.
func (m *Manager) PauseIdleOnce(ctx context.Context) {
	now := m.cfg.Clock.Now()
	for _, l := range m.all() {
		if idle := l.idleFor(now); idle >= m.cfg.PauseIdle && !l.Asleep() {
			go l.sleep(ctx, idle)
		}
	}
}
