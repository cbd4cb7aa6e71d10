package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/workstation"
)

// A learner's life, in one place: the phases a learner can be in (Phase),
// and the happenings that move them from one to the next (the table below).
// Every move goes through (*Learner).move, under the learner's one mutex, and
// is refused from a phase the table does not list it for: a reset asked for
// while a cluster is being claimed, or a wake once the session has ended,
// does nothing. The usual life:
//
//	Queued ─claimed─▶ Provisioning ─ready─▶ Ready ─pause─▶ Pausing ─paused─▶ Asleep
//	                                          ▲                                │
//	                                          └────woken──── Waking ◀──wake────┘
//
// and the other ways: a reset (Ready, Asleep, Failed and the phases between
// ─reset─▶ Replacing ─requeue─▶ Queued); a loss (Ready ─lose─▶ Lost while
// kindlab waits for the same cluster to come back, then ─ready─▶ Ready, or
// ─replaceLost─▶ Replacing when it does not; a cluster gone for good is
// replaced at once, Ready ─replaceLost─▶ Replacing); a failure (no cluster
// could be had, or too many were lost: ─fail─▶ Failed, where Try again is a
// reset); the end (every phase ─end─▶ Ended).
//
// What runs in each phase: in Queued and Provisioning, provision (below); in
// Ready, the current step's checks (steps.go), and the namespace guard, the
// health probes and the limits' look-out (link.go); in Asleep, nothing but a
// watch on the terminal; in Lost, the wait for the same cluster to come back
// (recover, link.go); in Replacing, the release of the old cluster.

// Phase is where a learner is in their life.
type Phase int

const (
	Queued       Phase = iota // waiting for a cluster from the pool
	Provisioning              // a cluster claimed (or, after a restart, reconnected): files, setup, terminal
	Ready                     // on their cluster, its checks watched
	Pausing                   // their cluster is being paused: they went idle
	Asleep                    // their cluster is paused until they are back
	Waking                    // their cluster is being woken
	Lost                      // their cluster stopped answering; kindlab waits for it to come back
	Replacing                 // leaving their cluster for a fresh one
	Failed                    // without a cluster; Try again (a reset) gives them one
	Ended                     // expired or ended by the learner: nothing more happens
)

var phaseNames = [...]string{"queued", "provisioning", "ready", "pausing", "asleep", "waking", "lost", "replacing", "failed", "ended"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// stored is the session state the store keeps for p (what a restart and the
// other replicas see).
func (p Phase) stored() store.State {
	switch p {
	case Ready, Pausing, Asleep, Waking:
		return store.StateReady
	case Failed:
		return store.StateFailed
	case Ended:
		return store.StateExpired
	}
	return store.StateProvisioning
}

// happening is what moves a learner: from one of the phases listed, to one.
type happening struct {
	name string
	from []Phase
	to   Phase
}

// What can happen to a learner, and when.
var (
	claimed = happening{"claimed", []Phase{Queued}, Provisioning}
	// requeue: a claimed cluster that does not answer (another is claimed),
	// a recovered session whose cluster is gone, a reset's new cluster.
	requeue = happening{"requeue", []Phase{Provisioning, Replacing}, Queued}
	// ready: provisioned, reconnected after a restart, or the lost cluster came back.
	ready = happening{"ready", []Phase{Provisioning, Lost}, Ready}
	// fail: no cluster could be had, or too many were lost (mayReplace).
	fail   = happening{"fail", []Phase{Queued, Provisioning, Replacing}, Failed}
	pause  = happening{"pause", []Phase{Ready}, Pausing}
	paused = happening{"paused", []Phase{Pausing}, Asleep}
	wake   = happening{"wake", []Phase{Asleep}, Waking}
	// woken: from Pausing, the pause failed.
	woken = happening{"woken", []Phase{Waking, Pausing}, Ready}
	// lose: the cluster stopped answering (its node restarts: it is waited
	// for), or did not wake.
	lose = happening{"lose", []Phase{Ready, Waking}, Lost}
	// reset: the learner's (Reset my cluster, Try again) or the instructor's.
	reset = happening{"reset", []Phase{Ready, Pausing, Asleep, Waking, Failed}, Replacing}
	// replaceLost: kindlab's, for a cluster lost for good.
	replaceLost = happening{"replace", []Phase{Ready, Lost}, Replacing}
	end         = happening{"end", []Phase{Queued, Provisioning, Ready, Pausing, Asleep, Waking, Lost, Replacing, Failed}, Ended}
)

// Learner is one live session. It owns, besides its phase, the link to its
// cluster (link.go), the watch on its current step (steps.go) and its
// terminal (shell.go), all under mu. The store holds what must survive a
// restart; a Learner is rebuilt from it.
type Learner struct {
	m      *Manager
	id     string // never changes
	lab    *labs.Lab
	client string // the address that started it (per-client limits)
	log    *slog.Logger
	// life ends when the session does: a provision still queued for a cluster
	// gives up its place then, and never claims one afterwards.
	life context.Context
	stop context.CancelFunc

	mu sync.Mutex
	// settled is told of every move and every shell started: Wake waits on
	// it for a pause or wake under way, Terminal for a shell starting.
	settled  *sync.Cond
	phase    Phase
	sess     store.Session
	progress Progress
	subs     map[chan Event]struct{}
	link     link
	steps    steps
	shell    shell
	refused  map[string]bool // the budget's refusals told (tellRefusals)
}

func newLearner(m *Manager, lab *labs.Lab, sess store.Session, phase Phase) *Learner {
	life, stop := context.WithCancel(m.ctx)
	l := &Learner{m: m, id: sess.ID, lab: lab, client: sess.Client, sess: sess, phase: phase,
		log: m.cfg.Logger.With("session", sess.ID, "lab", lab.ID), life: life, stop: stop, subs: map[chan Event]struct{}{}}
	l.settled = sync.NewCond(&l.mu)
	l.link.active = m.cfg.Clock.Now()
	l.steps.poke = make(chan struct{}, 1)
	l.shell.cmds = shellmark.NewTracker(m.cfg.Clock.Now, l.commandChanged)
	return l
}

// move makes h happen, if it may from the learner's phase, and reports
// whether it did; l.mu must be held. The session's stored state follows (the
// caller saves it).
func (l *Learner) move(h happening) bool {
	if !slices.Contains(h.from, l.phase) {
		l.log.Debug("move refused", "happening", h.name, "phase", l.phase)
		return false
	}
	l.log.Debug("move", "happening", h.name, "from", l.phase, "to", h.to)
	l.phase = h.to
	l.sess.State = h.to.stored()
	l.settled.Broadcast()
	return true
}

// moveNow is move with l.mu taken, and the session saved when it moved.
func (l *Learner) moveNow(ctx context.Context, h happening) bool {
	l.mu.Lock()
	moved := l.move(h)
	l.mu.Unlock()
	if moved {
		l.save(ctx)
	}
	return moved
}

// Phase is where the learner is in their life.
func (l *Learner) Phase() Phase {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

// Asleep reports whether the learner's cluster is paused because they went idle.
func (l *Learner) Asleep() bool { return l.Phase() == Asleep }

// ID is the session's ID.
func (l *Learner) ID() string { return l.id }

// Lab is the session's lab.
func (l *Learner) Lab() *labs.Lab { return l.lab }

// Session returns a copy of the stored session.
func (l *Learner) Session() store.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess
}

// Touch records that the learner is around (a page, stream or terminal).
func (l *Learner) Touch() {
	l.mu.Lock()
	l.sess.LastSeen = l.m.cfg.Clock.Now()
	l.mu.Unlock()
}

// Extend gives the session d more time before it expires.
func (l *Learner) Extend(ctx context.Context, d time.Duration) {
	l.mu.Lock()
	l.sess.Expires = l.sess.Expires.Add(d)
	l.mu.Unlock()
	l.save(ctx)
}

// save stores the session as it is now (retried until it lands; see saver).
func (l *Learner) save(context.Context) {
	s := l.Session()
	l.m.saver.save("session", func(ctx context.Context) error { return l.m.cfg.Store.UpdateSession(ctx, s) })
}

// 1. Provisioning: claim a cluster, copy the files in, wait for the terminal.

// Stage is a provisioning stage, as the learner's page knows it (its id);
// Label says it in words.
type Stage string

// Provisioning stages, in order, as the progress view shows them.
const (
	StageQueue    Stage = "queue"
	StageFiles    Stage = "files"
	StageTerminal Stage = "terminal"
	StageReady    Stage = "ready"
	// StageComeBack is not in Stages: a lost cluster whose node restarts is
	// waited for (see awaitReturn).
	StageComeBack Stage = "come-back"
)

// Stages lists the provisioning stages in order.
var Stages = []Stage{StageQueue, StageFiles, StageTerminal, StageReady}

// Label is the stage in the learner's words.
func (s Stage) Label() string {
	switch s {
	case StageQueue:
		return "Waiting for a cluster"
	case StageFiles:
		return "Copying the lab files"
	case StageTerminal:
		return "Starting your terminal"
	case StageReady:
		return "Ready"
	case StageComeBack:
		return "Waiting for your cluster to start again"
	}
	return string(s)
}

// maxClaims is how many clusters one provision claims before it gives up on
// clusters that do not answer.
const maxClaims = 3

// provision claims a cluster and readies it for this learner, reporting each
// stage. It runs in the background each time the learner is moved to Queued
// (a start, a reset, a restart), for as long as the session lives.
func (l *Learner) provision() {
	ctx := l.life
	failWith := func(msg string, err error) {
		l.log.Error("provision failed", "error", err)
		// The page offers Try again as soon as it hears of the failure.
		if l.moveTelling(ctx, fail, Progress{Stage: StageQueue, Error: msg}) {
			l.record(ctx, activity.KindFailed, 0, msg)
		}
	}
	var c *cluster.Cluster
	var conn *workstation.Conn
	now := l.m.cfg.Clock.Now
	began := now()
	var claimedAt, opened, setUp time.Time // for the log: where a start's time goes
	for attempt := 1; ; attempt++ {
		var err error
		c, err = l.claim(ctx)
		if err != nil && ctx.Err() == nil {
			failWith("No cluster could be made for you. Try again in a minute; if it keeps failing, tell your instructor.", err)
		}
		if err != nil || c == nil {
			return // or the session ended while it waited, or as the cluster came
		}
		claimedAt = now()
		l.setProgress(Progress{Stage: StageFiles})
		if conn, err = l.open(ctx, c); err == nil {
			opened = now()
			break
		}
		// A cluster that does not answer is thrown away, and another claimed.
		l.log.Warn("claimed cluster does not answer; throwing it away", "cluster", c.Name, "attempt", attempt, "error", err)
		l.mu.Lock()
		l.disconnect()
		l.sess.Cluster = ""
		requeued := l.move(requeue)
		l.mu.Unlock()
		go l.m.cfg.Pool.Release(context.WithoutCancel(ctx), c.Name)
		if !requeued {
			return // the session ended
		}
		if attempt == maxClaims {
			failWith("Your cluster did not come up. Use Try again to get a fresh one.", err)
			return
		}
	}
	// The images lab.yaml names (a pool cluster has kindlab's own already).
	if err := l.m.cfg.Clusters.LoadImages(ctx, c.Name, l.lab.Images...); err != nil {
		failWith("The images this lab needs could not be loaded into your cluster; tell your instructor.", err)
		return
	}
	if err := l.driver(conn).SetUp(ctx); err != nil {
		failWith("The lab could not set your cluster up; tell your instructor.", err)
		return
	}
	setUp = now()
	l.setProgress(Progress{Stage: StageTerminal})
	if err := conn.WaitReady(ctx, 2*time.Minute); err != nil {
		failWith("Your terminal did not start. Use Try again to get a fresh cluster.", err)
		return
	}
	l.record(ctx, activity.KindReady, 0, c.Name)
	l.startStep(l.Session().Step)
	if !l.becomeReady(ctx) {
		return
	}
	l.startShell()
	l.log.Info("learner ready", "cluster", c.Name, "took", now().Sub(began), "claim", claimedAt.Sub(began),
		"connect_and_files", opened.Sub(claimedAt), "images_and_setup", setUp.Sub(opened), "workstation", now().Sub(setUp))
}

// becomeReady moves the learner to Ready, from when they may reset, sleep or
// lose their cluster, and tells their page once the store has it.
func (l *Learner) becomeReady(ctx context.Context) bool {
	return l.moveTelling(ctx, ready, Progress{Stage: StageReady, Done: true})
}

// moveTelling makes h happen, stores the session, then tells the page p,
// unless the learner has moved on meanwhile: a page told of a state finds it
// stored (a reload, another replica).
func (l *Learner) moveTelling(ctx context.Context, h happening, p Progress) bool {
	if !l.moveNow(ctx, h) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.phase == h.to {
		l.setProgressLocked(p)
	}
	return true
}

// claim takes a cluster from the pool for the learner, telling them and the
// instructor their place in the queue while they wait. It returns nil, nil when
// the session ended as the cluster came (the cluster went back).
func (l *Learner) claim(ctx context.Context) (*cluster.Cluster, error) {
	l.setProgress(Progress{Stage: StageQueue})
	told := 0
	c, err := l.m.cfg.Pool.Claim(ctx, func(pos int) {
		if pos == told {
			return
		}
		told = pos
		l.setProgress(Progress{Stage: StageQueue, Queue: pos})
		l.record(ctx, activity.KindQueued, 0, strconv.Itoa(pos)) // the instructor sees the queue too
	})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if ctx.Err() != nil || !l.move(claimed) { // the session ended as the cluster came: give it back
		l.mu.Unlock()
		l.m.cfg.Pool.Release(context.WithoutCancel(ctx), c.Name)
		return nil, nil
	}
	l.sess.Cluster = c.Name
	l.mu.Unlock()
	l.save(ctx)
	return c, nil
}

// open connects to a claimed cluster and readies the lab's files. A cluster
// whose node is starting again (warm clusters after a Docker engine restart)
// is waited for; one that has stopped for good is not.
func (l *Learner) open(ctx context.Context, c *cluster.Cluster) (*workstation.Conn, error) {
	conn, err := l.use(c, l.placeFiles)
	if err == nil {
		return conn, nil
	}
	node, nerr := l.m.cfg.Clusters.Node(ctx, c.Name)
	engineDown := errors.Is(nerr, cluster.ErrEngineDown)
	if !engineDown && node.State != cluster.NodeRunning && node.State != cluster.NodeRestarting {
		return nil, err
	}
	l.log.Info("claimed cluster does not answer yet; waiting for its node", "cluster", c.Name, "node", node.State, "error", err)
	if c, err = l.waitBack(ctx, c.Name, engineDown); err != nil {
		return nil, err
	}
	return l.use(c, l.placeFiles)
}

// placeFiles readies the lab's files for the learner's first shell.
func (l *Learner) placeFiles(conn *workstation.Conn) error {
	copied, err := l.driver(conn).PlaceFiles(l.life)
	if copied && err == nil {
		l.log.Info("lab files copied: the cluster's catalog does not hold this lab's files as they are now")
	}
	return err
}

// reconnect gives a recovered session (Provisioning) its cluster back after
// a server restart.
func (l *Learner) reconnect(c *cluster.Cluster) error {
	if _, err := l.use(c, nil); err != nil {
		return err
	}
	l.startStep(l.Session().Step)
	l.becomeReady(l.life)
	return nil
}

// provisionAnew gives a recovered learner a new cluster in place of one they
// no longer have; their page follows its progress from the start.
func (l *Learner) provisionAnew() {
	l.mu.Lock()
	if l.phase != Queued && !l.move(requeue) {
		l.mu.Unlock()
		return
	}
	l.sess.State, l.sess.Cluster = Queued.stored(), ""
	l.progress = Progress{}
	l.mu.Unlock()
	go l.provision()
}

// 2. Leaving a cluster: a reset, a loss, the end.

// Reset gives the learner a fresh cluster; progress and the current step stay.
func (l *Learner) Reset(ctx context.Context) { l.renew(ctx, reset, activity.KindReset, "") }

// renew takes the learner's cluster away by h (reset or replaceLost) and
// provisions a fresh one, recording why (kind, when not empty) and telling the
// learner (told, when not empty) first, in the page and in the terminal about
// to end. It reports whether the learner has a ready cluster after it: false
// too when h may not happen now or the session has ended.
func (l *Learner) renew(ctx context.Context, h happening, kind activity.Kind, told string) bool {
	old, ok := l.leave(ctx, h, kind, told)
	if !ok {
		return false
	}
	if old != "" {
		go l.m.cfg.Pool.Release(context.WithoutCancel(ctx), old)
	}
	if !l.moveNow(ctx, requeue) {
		return false
	}
	l.provision()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase == Ready && l.link.conn != nil
}

// leave takes the learner off their cluster by h (reset, replaceLost or lose)
// and returns its name: the terminal about to end shows told, what runs
// against the cluster stops; kind (when not empty) is recorded and told (when
// not empty) shown on the page. After lose the session keeps naming the
// cluster (the learner waits for it to come back); otherwise it names none.
// It reports false, doing nothing, when h may not happen now.
func (l *Learner) leave(ctx context.Context, h happening, kind activity.Kind, told string) (string, bool) {
	l.mu.Lock()
	if !l.move(h) {
		l.mu.Unlock()
		return "", false
	}
	old, step := l.sess.Cluster, l.sess.Step
	if told != "" && l.shell.term != nil {
		l.shell.term.Notice(told)
	}
	l.disconnect()
	if h.to != Lost {
		l.sess.Cluster = ""
	}
	l.steps.checks = Checks{}
	l.mu.Unlock()
	l.save(ctx)
	if kind != "" {
		l.record(ctx, kind, step, old)
	}
	if told != "" {
		l.Tell(told)
	}
	return old, true
}

// disconnect stops what runs against the learner's cluster: checks, shell,
// namespace guard, probes; l.mu must be held.
func (l *Learner) disconnect() {
	l.stopWatching()
	if l.shell.term != nil {
		l.shell.term.Close()
		l.shell.term, l.shell.lastTerm = nil, l.shell.term
	}
	l.steps.engine, l.link.conn = nil, nil
	if l.link.unsleep != nil {
		l.link.unsleep()
	}
	l.steps.begun, l.steps.begunAt = check.StepState{}, 0
}

// end stops the learner's watcher and terminal, releases the cluster and marks
// the session expired; why goes to the workshop's record.
func (l *Learner) end(ctx context.Context, why string) {
	l.stop()
	l.mu.Lock()
	if !l.move(end) {
		l.mu.Unlock()
		return
	}
	name := l.sess.Cluster
	l.disconnect()
	l.publish(Event{EventProgress, Progress{Stage: StageQueue, Error: "This session has ended."}})
	l.mu.Unlock()
	l.save(ctx)
	l.m.saver.save("terminal output", func(ctx context.Context) error { return l.m.cfg.Store.DeleteTerminalOutput(ctx, l.id) })
	l.record(ctx, activity.KindLeave, 0, why) // before the cluster's delete, which takes seconds
	if name != "" {
		if err := l.m.cfg.Pool.Release(ctx, name); err != nil {
			l.log.Error("release cluster", "cluster", name, "error", err)
		}
	}
}
