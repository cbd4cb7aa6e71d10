// Package session is a learner's life in kindlab. Its phases, and what moves
// a learner between them, are in lifecycle.go; in the order it happens:
//
//  1. Start stores a session and provisions it in the background: a cluster is
//     claimed from the pool (the page shows the learner's place in the queue),
//     the lab's files are copied into the workstation, the terminal starts.
//  2. The current step's checks are watched; every change is published to the
//     learner's page (Subscribe) and recorded as a workshop event.
//  3. The learner moves between steps (GoTo), opens the terminal (Terminal), is
//     reset to a fresh cluster (Reset) or fast-forwarded by the instructor
//     (FastForward).
//  4. A learner idle for PauseIdle has their cluster paused until their next
//     keystroke, page or app link; a cluster that stops answering is waited
//     for or replaced (link.go). The session ends when it expires or sits idle
//     for IdleTimeout (Reap), and gives its cluster back. After a restart,
//     Recover rebuilds every live session from the store; the terminal's
//     output is kept there too (output.go), so a new shell starts with the
//     earlier one's.
//  5. Replicas sharing a PostgreSQL store each run the sessions they own and
//     take over those of a replica that is gone (replicas.go).
//
// The Manager holds the live sessions; the HTTP layer (package server) only
// translates requests into these calls.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/workstation"
)

// Pool is what a session needs of the warm pool.
type Pool interface {
	Claim(ctx context.Context, position func(int)) (*cluster.Cluster, error)
	Release(ctx context.Context, name string) error
}

// Clusters finds clusters by name (for sessions recovered after a restart) and
// loads the images a lab names into one.
type Clusters interface {
	Get(ctx context.Context, name string) (*cluster.Cluster, error)
	List(ctx context.Context) ([]string, error)
	Delete(ctx context.Context, name string) error
	LoadImages(ctx context.Context, name string, images ...string) error
	// Node tells what Docker says of the cluster's node container; an error
	// wrapping cluster.ErrEngineDown means the engine did not answer.
	Node(ctx context.Context, name string) (cluster.Node, error)
	// Pause freezes a cluster's node (an idle learner's); Resume thaws it.
	Pause(ctx context.Context, name string) error
	Resume(ctx context.Context, name string) error
}

// Config holds a Manager's dependencies and settings.
type Config struct {
	Catalog   *labs.Catalog
	Manifests fs.FS // lab files
	Store     *store.Store
	Pool      Pool
	Clusters  Clusters
	// Limits go into every namespace of a learner's cluster.
	Limits platform.NamespaceLimits
	Logger *slog.Logger
	Clock  clock.Clock
	// MaxAge ends any session this long after it started (default 8 hours);
	// IdleTimeout ends a session nobody has looked at for this long (default
	// 2 hours).
	MaxAge      time.Duration
	IdleTimeout time.Duration
	// CheckTick is the safety-net interval of check evaluation (0: the watcher's default).
	CheckTick time.Duration
	// HealthEvery is how often each claimed cluster is probed (0: never); a
	// cluster that fails three probes in a row (or times them out for 45 s
	// while its node runs) is replaced, the learner kept on their step.
	HealthEvery time.Duration
	// PauseIdle pauses the cluster of a learner who has done nothing (typed,
	// opened a page or an app) for this long, until they come back; 0 never.
	PauseIdle time.Duration
	// DiskBudget bounds what a learner's pods hold on their node's disk in
	// all (cluster.Budget.Disk): past it, the pod holding the most is
	// deleted and the learner told (watchLimits); 0: no bound but their
	// namespaces' quotas.
	DiskBudget int64
	// Connect opens a claimed cluster (default: workstation.Connect of its
	// kubeconfig); unit tests hand out a fake.
	Connect func(*cluster.Cluster) (*workstation.Conn, error)
	// OnEvent sees every recorded event after the store (the instructor dashboards).
	OnEvent func(activity.Event)
	// Replica names this kindlab process in the store: the owner of the
	// sessions it starts and the origin of the events it records.
	Replica string
	// Lease, when not 0, shares the store with other replicas (replicas.go):
	// one silent for this long is gone and its sessions are taken over.
	// ReplicaURL is where the others pass this one's learners' requests.
	Lease      time.Duration
	ReplicaURL string
}

// Manager holds the live sessions. Build it with New; it lives until ctx ends.
type Manager struct {
	cfg Config
	ctx context.Context

	saver *saver

	mu           sync.Mutex
	learners     map[string]*Learner
	adoptCluster func(*cluster.Cluster)   // Recover's: marks a session's cluster claimed in the pool
	taking       map[string]chan struct{} // sessions being taken over, closed when done (replicas.go)
	saving       Saving                   // whether writes reach the store, as pages are told
}

// New returns a Manager whose background work ends with ctx.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Catalog == nil || cfg.Store == nil || cfg.Pool == nil || cfg.Clusters == nil || cfg.Manifests == nil {
		return nil, errors.New("session: catalog, store, pool, clusters and manifests are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 2 * time.Hour
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 8 * time.Hour
	}
	if cfg.Connect == nil {
		cfg.Connect = func(c *cluster.Cluster) (*workstation.Conn, error) { return workstation.Connect(c.Kubeconfig) }
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(activity.Event) {}
	}
	m := &Manager{cfg: cfg, ctx: ctx, learners: map[string]*Learner{}, taking: map[string]chan struct{}{}}
	m.saver = &saver{m: m}
	if cfg.PauseIdle > 0 {
		go m.pauseIdle(ctx)
	}
	go m.keepOutput(ctx)
	if cfg.Lease > 0 {
		go m.beat(ctx)
	}
	return m, nil
}

// Start stores a new session of lab for client (the address that asked) and
// provisions it in the background. It returns the learner and the cookie token,
// which is only stored hashed. A workshop learner's session uses the ID and name
// the workshop seated them with; otherwise id and name are empty.
func (m *Manager) Start(ctx context.Context, client string, lab *labs.Lab, workshopID, name, id string) (*Learner, string, error) {
	now := m.cfg.Clock.Now()
	token := RandomToken(32)
	if id == "" {
		id = RandomToken(12)
	}
	sess := store.Session{
		ID: id, TokenHash: HashToken(token), TermToken: RandomToken(24), Lab: lab.ID, Step: 1,
		State: store.StateProvisioning, Created: now, LastSeen: now, Expires: now.Add(m.cfg.MaxAge), Workshop: workshopID, Name: name,
		Owner: m.cfg.Replica, Client: client,
	}
	if err := m.cfg.Store.CreateSession(ctx, sess); err != nil {
		return nil, "", err
	}
	l := m.add(lab, sess, Queued)
	l.record(ctx, activity.KindJoin, 0, "")
	go l.provision()
	return l, token, nil
}

func (m *Manager) add(lab *labs.Lab, sess store.Session, phase Phase) *Learner {
	l := newLearner(m, lab, sess, phase)
	m.mu.Lock()
	m.learners[sess.ID] = l
	m.mu.Unlock()
	return l
}

// Replica names this process among the replicas, and reports whether they
// share the store (Config.Lease): each runs its own sessions.
func (m *Manager) Replica() (name string, shared bool) { return m.cfg.Replica, m.replicated() }

// Get returns the live session id.
func (m *Manager) Get(id string) (*Learner, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.learners[id]
	return l, ok
}

// Running counts client's sessions that hold or wait for a cluster: a session
// whose cluster failed does not count (its page offers Try again).
func (m *Manager) Running(client string) int {
	if m.replicated() { // every replica's
		n, err := m.cfg.Store.Running(m.ctx, client)
		if err == nil {
			return n
		}
		m.cfg.Logger.Warn("count a client's sessions: the store did not answer; counting this replica's", "error", err)
	}
	n := 0
	for _, l := range m.all() {
		if l.client == client && l.Session().State != store.StateFailed {
			n++
		}
	}
	return n
}

// InWorkshop returns the live sessions of a workshop.
func (m *Manager) InWorkshop(workshopID string) []*Learner {
	var out []*Learner
	for _, l := range m.all() {
		if l.Session().Workshop == workshopID {
			out = append(out, l)
		}
	}
	return out
}

// TellWorkshop shows text on the pages of the workshop's learners this
// replica runs, and reports how many.
func (m *Manager) TellWorkshop(workshopID, text string) int {
	learners := m.InWorkshop(workshopID)
	for _, l := range learners {
		l.Tell(text)
	}
	return len(learners)
}

// IDs lists the live sessions, sorted.
func (m *Manager) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.learners))
	for id := range m.learners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (m *Manager) all() []*Learner {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Learner, 0, len(m.learners))
	for _, l := range m.learners {
		out = append(out, l)
	}
	return out
}

// Recover rebuilds the live sessions after a restart: ready sessions whose
// cluster still exists get it back (adopt marks its pool slot claimed), sessions
// still provisioning start again, and the pool clusters no session owns that
// no other live replica's pool made are deleted as orphans (deleteOrphans).
func (m *Manager) Recover(ctx context.Context, adopt func(c *cluster.Cluster)) error {
	sessions, err := m.cfg.Store.Sessions(ctx, "")
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.adoptCluster = adopt
	m.mu.Unlock()
	owned := map[string]bool{}
	var live map[string]store.Replica
	if m.replicated() {
		if live, err = m.live(ctx); err != nil {
			return err
		}
	}
	for _, sess := range sessions {
		if sess.State == store.StateExpired {
			continue
		}
		if _, alive := live[sess.Owner]; alive && sess.Owner != m.cfg.Replica {
			owned[sess.Cluster] = true // another replica runs it
			continue
		}
		if m.replicated() && sess.Owner != m.cfg.Replica {
			if won, err := m.cfg.Store.ClaimSession(ctx, sess.ID, sess.Owner, m.cfg.Replica); err != nil || !won {
				owned[sess.Cluster] = true
				continue
			}
			sess.Owner = m.cfg.Replica
		}
		if name, ok := m.recoverSession(ctx, sess); ok {
			owned[name] = true
		}
	}
	return m.deleteOrphans(ctx, owned, true)
}

// recoverSession brings back one stored session: with its cluster when that
// still exists (it reports the cluster's name), else provisioning a new one.
// An expired session, or one whose lab is gone, is marked expired.
func (m *Manager) recoverSession(ctx context.Context, sess store.Session) (string, bool) {
	if sess.State == store.StateExpired {
		return "", false
	}
	lab, ok := m.cfg.Catalog.Lab(sess.Lab)
	if !ok || m.cfg.Clock.Now().After(sess.Expires) {
		sess.State = store.StateExpired
		if err := m.cfg.Store.UpdateSession(ctx, sess); err != nil {
			m.cfg.Logger.Error("save session", "session", sess.ID, "error", err)
		}
		return "", false
	}
	if sess.State != store.StateReady || sess.Cluster == "" {
		m.add(lab, sess, Queued).provisionAnew()
		return "", false
	}
	l := m.add(lab, sess, Provisioning) // reconnecting; its page reads ready meanwhile
	// The learner keeps their cluster: a page that subscribes while it is
	// reconnected has nothing new to show (a new cluster's progress would
	// reload it); its terminal reconnects by itself. Should the cluster
	// not answer, provision tells the page of the new one.
	l.mu.Lock()
	l.setProgressLocked(Progress{Stage: StageReady, Done: true})
	l.mu.Unlock()
	if c, err := m.cfg.Clusters.Get(ctx, sess.Cluster); err == nil {
		m.mu.Lock()
		adopt := m.adoptCluster
		m.mu.Unlock()
		if adopt != nil {
			adopt(c)
		}
		if node, err := m.cfg.Clusters.Node(ctx, sess.Cluster); err == nil && node.State == cluster.NodePaused {
			// paused while its learner was idle: they may be back
			if err := m.cfg.Clusters.Resume(ctx, sess.Cluster); err != nil {
				m.cfg.Logger.Warn("resume a paused session cluster", "session", sess.ID, "error", err)
			}
		}
		if err := l.reconnect(c); err == nil {
			m.cfg.Logger.Info("session recovered", "session", sess.ID, "cluster", sess.Cluster)
			return sess.Cluster, true
		} else {
			m.cfg.Logger.Warn("session cluster unreachable; provisioning a new one", "session", sess.ID, "error", err)
		}
		l.provisionAnew()
		return sess.Cluster, true // still its to delete, not an orphan's
	}
	l.provisionAnew()
	return "", false
}

// setSaving tells every learner's page whether their progress is being saved.
func (m *Manager) setSaving(s Saving) {
	m.mu.Lock()
	m.saving = s
	m.mu.Unlock()
	for _, l := range m.all() {
		l.mu.Lock()
		l.publish(Event{EventSaving, s})
		l.mu.Unlock()
	}
}

// Saving reports whether writes reach the store, and how many wait.
func (m *Manager) Saving() (Saving, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saving, m.saver.delayed()
}

// Reap ends sessions idle longer than IdleTimeout or older than MaxAge, every
// interval, until ctx ends.
func (m *Manager) Reap(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.ReapOnce(ctx)
		}
	}
}

// ReapOnce ends every session that has expired or sat idle, now.
func (m *Manager) ReapOnce(ctx context.Context) {
	now := m.cfg.Clock.Now()
	var ended []*Learner
	m.mu.Lock()
	for id, l := range m.learners {
		sess := l.Session()
		if now.After(sess.Expires) || now.Sub(sess.LastSeen) > m.cfg.IdleTimeout {
			ended = append(ended, l)
			delete(m.learners, id)
		}
	}
	m.mu.Unlock()
	for _, l := range ended {
		m.cfg.Logger.Info("session expired", "session", l.id)
		l.end(ctx, "expired")
	}
}

// End ends session id at its learner's wish: it is gone at once, and its
// cluster goes back to the pool in the background. It reports whether the
// session was live.
func (m *Manager) End(ctx context.Context, id string) bool {
	m.mu.Lock()
	l, ok := m.learners[id]
	delete(m.learners, id)
	m.mu.Unlock()
	if ok {
		m.cfg.Logger.Info("session ended by the learner", "session", id)
		go l.end(context.WithoutCancel(ctx), "ended")
	}
	return ok
}

// RandomToken returns n random bytes, base64url-encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is how a secret token is stored: its SHA-256, hex.
func HashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}
