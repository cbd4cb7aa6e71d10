package server

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kindlab/kindlab/cluster"
)

// touch records that the learner is around (a page, stream or terminal).
func (l *learner) touch() {
	l.mu.Lock()
	l.sess.LastSeen = l.srv.Clock.Now()
	l.mu.Unlock()
}

func (l *learner) currentProgress() progressData {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress
}

// Recover rebuilds the server's learners after a restart: ready sessions whose
// cluster still exists get it back (their pool slot is marked claimed), sessions
// still provisioning start again, and every kindlab cluster no session owns is
// deleted as an orphan. adopt marks a cluster claimed in the pool.
func (s *Server) Recover(ctx context.Context, adopt func(c *cluster.Cluster)) error {
	sessions, err := s.Store.Sessions(ctx, "")
	if err != nil {
		return err
	}
	owned := map[string]bool{}
	now := s.Clock.Now()
	for _, sess := range sessions {
		if sess.State == "expired" || sess.State == "ended" {
			continue
		}
		lab, ok := s.Catalog.Lab(sess.Lab)
		if !ok || now.After(sess.Expires) {
			sess.State = "expired"
			s.Store.UpdateSession(ctx, sess)
			continue
		}
		l := newLearner(s, lab, sess)
		s.mu.Lock()
		s.learners[sess.ID] = l
		s.mu.Unlock()
		if sess.State == "ready" && sess.Cluster != "" {
			if c, err := s.Clusters.Get(ctx, sess.Cluster); err == nil {
				owned[sess.Cluster] = true
				adopt(c)
				if err := l.reconnect(ctx); err == nil {
					s.Logger.Info("session recovered", "session", sess.ID, "cluster", sess.Cluster)
					continue
				} else {
					s.Logger.Warn("session cluster unreachable; provisioning a new one", "session", sess.ID, "error", err)
				}
			}
		}
		l.mu.Lock()
		l.sess.State, l.sess.Cluster = "provisioning", ""
		l.mu.Unlock()
		go l.provision()
	}
	names, err := s.Clusters.List(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !owned[n] && strings.HasPrefix(n, cluster.PoolPrefix) {
			s.Logger.Info("deleting orphan cluster", "cluster", n)
			if err := s.Clusters.Delete(ctx, n); err != nil {
				s.Logger.Error("delete orphan", "cluster", n, "error", err)
			}
		}
	}
	return nil
}

// Reap ends sessions idle longer than IdleTimeout or older than MaxAge, every
// interval, until ctx ends.
func (s *Server) Reap(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reapOnce(ctx)
		}
	}
}

func (s *Server) reapOnce(ctx context.Context) {
	now := s.Clock.Now()
	s.mu.Lock()
	var ended []*learner
	for id, l := range s.learners {
		sess := l.session()
		if now.After(sess.Expires) || now.Sub(sess.LastSeen) > s.IdleTimeout {
			ended = append(ended, l)
			delete(s.learners, id)
		}
	}
	s.mu.Unlock()
	for _, l := range ended {
		s.Logger.Info("session expired", "session", l.sess.ID)
		l.close(ctx, "expired")
		l.event(ctx, "leave", 0, "expired")
	}
}

// learnerIDs lists live sessions (for tests and metrics).
func (s *Server) learnerIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.learners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
