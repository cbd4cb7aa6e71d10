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
	"github.com/kindlab/kindlab/cluster/workstation"
	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/server/workshop"
)

// Provisioning stages, in order, as the progress view shows them.
const (
	StageQueue    = "Waiting for a cluster"
	StageFiles    = "Copying the lab files"
	StageTerminal = "Starting your terminal"
	StageReady    = "Ready"
	// StageComeBack is not in Stages: a lost cluster whose node restarts is
	// waited for (see awaitReturn).
	StageComeBack = "Waiting for your cluster to start again"
)

// Stages lists the provisioning stages in order.
var Stages = []string{StageQueue, StageFiles, StageTerminal, StageReady}

// Learner is one live session: its cluster connection, terminal, check watcher
// and the pages subscribed to its events. The store holds what must survive a
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

	termMu   sync.Mutex // held while a shell starts (Terminal)
	wakeMu   sync.Mutex // held while the cluster is paused or woken (idle.go)
	mu       sync.Mutex
	sess     store.Session
	conn     *workstation.Conn // the learner's cluster, while they have one
	engine   *check.Engine
	term     *terminal.Session
	lastTerm *terminal.Session // the one before term: a new shell starts with its output
	output   outputSaved       // how far term's output is in the store (output.go)
	progress Progress
	checks   Checks
	unwatch  context.CancelFunc // the current step's check watcher
	unguard  context.CancelFunc // the namespace guard of the current cluster
	subs     map[chan Event]struct{}
	busy     bool               // provisioning or resetting
	cmds     *shellmark.Tracker // the commands run in the terminal
	poke     chan struct{}      // a command ended in the terminal: look at the checks now
	ended    time.Time          // when the last command in the terminal ended
	active   time.Time          // when the learner last did something (Active)
	asleep   bool               // the cluster is paused: the learner went idle
	woken    context.CancelFunc // ends the sleep's watch on the terminal (idle.go)
	begun    check.StepState    // the current step's state when its checks began
	begunAt  int                // the step begun is of (0: none yet)
	stepCmd  uint64             // the current step's first command (shellmark.Tracker.Next)
	replaced []time.Time        // when lost clusters were replaced, within replacementWindow
	refused  map[string]bool    // the budget's refusals told (tellRefusals)
}

func newLearner(m *Manager, lab *labs.Lab, sess store.Session) *Learner {
	life, stop := context.WithCancel(m.ctx)
	l := &Learner{m: m, id: sess.ID, lab: lab, sess: sess, log: m.cfg.Logger.With("session", sess.ID, "lab", lab.ID),
		life: life, stop: stop, subs: map[chan Event]struct{}{}, poke: make(chan struct{}, 1), active: m.cfg.Clock.Now()}
	l.cmds = shellmark.NewTracker(m.cfg.Clock.Now, l.commandChanged)
	return l
}

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

// Conn is the connection to the learner's cluster; nil while there is none.
func (l *Learner) Conn() *workstation.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn
}

// 1. Provisioning: claim a cluster, copy the files in, wait for the terminal.

// provision claims a cluster and readies it for this learner, reporting each stage.
// It runs in the background after a start, a reset or a restart, for as long as
// the session lives.
func (l *Learner) provision() {
	ctx := l.life
	l.mu.Lock()
	if l.busy {
		l.mu.Unlock()
		return
	}
	l.busy = true
	l.mu.Unlock()
	// end frees the session for another provision or a reset, once; with p,
	// it publishes p in the same moment.
	var once sync.Once
	end := func(p *Progress) {
		once.Do(func() {
			l.mu.Lock()
			l.busy = false
			if p != nil {
				l.progress = *p
				l.publish(Event{EventProgress, *p})
			}
			l.mu.Unlock()
		})
	}
	done := func() { end(nil) }
	defer done()
	fail := func(msg string, err error) {
		l.log.Error("provision failed", "error", err)
		l.setState(ctx, store.StateFailed)
		l.record(ctx, workshop.KindFailed, 0, msg)
		done() // the page offers Try again as soon as it hears of the failure
		l.setProgress(Progress{Stage: StageQueue, Error: msg})
	}
	var c *cluster.Cluster
	var conn *workstation.Conn
	now := l.m.cfg.Clock.Now
	began := now()
	var claimed, opened, setUp time.Time // for the log: where a start's time goes
	for attempt := 1; ; attempt++ {
		var err error
		c, err = l.claim(ctx)
		if err != nil && ctx.Err() == nil {
			fail("No cluster could be made for you. Try again in a minute; if it keeps failing, tell your instructor.", err)
		}
		if err != nil || c == nil {
			return // or the session ended while it waited, or as the cluster came
		}
		claimed = now()
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
		l.mu.Unlock()
		go l.m.cfg.Pool.Release(context.WithoutCancel(ctx), c.Name)
		if attempt == maxClaims {
			fail("Your cluster did not come up. Use Try again to get a fresh one.", err)
			return
		}
	}
	// The images lab.yaml names (a pool cluster has kindlab's own already).
	if err := l.m.cfg.Clusters.LoadImages(ctx, c.Name, l.lab.Images...); err != nil {
		fail("The images this lab needs could not be loaded into your cluster; tell your instructor.", err)
		return
	}
	if err := cluster.ApplySetup(ctx, conn, l.m.cfg.Manifests, l.lab.WorkNamespace(), l.lab.Setup); err != nil {
		fail("The lab could not set your cluster up; tell your instructor.", err)
		return
	}
	setUp = now()
	l.setProgress(Progress{Stage: StageTerminal})
	if err := conn.WaitReady(ctx, 2*time.Minute); err != nil {
		fail("Your terminal did not start. Use Try again to get a fresh cluster.", err)
		return
	}
	l.setState(ctx, store.StateReady)
	l.startShell()
	l.record(ctx, workshop.KindReady, 0, c.Name)
	l.startStep(l.Session().Step)
	end(&Progress{Stage: StageReady, Done: true}) // ready, and open to a reset, at once
	l.log.Info("learner ready", "cluster", c.Name, "took", now().Sub(began), "claim", claimed.Sub(began),
		"connect_and_files", opened.Sub(claimed), "images_and_setup", setUp.Sub(opened), "workstation", now().Sub(setUp))
}

// maxClaims is how many clusters one provision claims before it gives up on
// clusters that do not answer.
const maxClaims = 3

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
		l.record(ctx, workshop.KindQueued, 0, strconv.Itoa(pos)) // the instructor sees the queue too
	})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if ctx.Err() != nil { // the session ended as the cluster came: give it back
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
	files, err := workstation.LabFiles(l.m.cfg.Manifests, l.lab)
	if err != nil {
		return err
	}
	copied, err := conn.PlaceFiles(l.life, l.lab.ID, files)
	if copied && err == nil {
		l.log.Info("lab files copied: the cluster's catalog does not hold this lab's files as they are now")
	}
	return err
}

// reconnect gives a recovered session its cluster back after a server restart.
func (l *Learner) reconnect(c *cluster.Cluster) error {
	if _, err := l.use(c, nil); err != nil {
		return err
	}
	l.startStep(l.Session().Step)
	l.setProgress(Progress{Stage: StageReady, Done: true})
	return nil
}

// use connects to cluster c, keeps its namespaces within the limits while the
// learner has it, and points the check engine at it. alongside, when not nil,
// runs on the new connection while the namespace guard starts (both are on the
// critical path of a start).
func (l *Learner) use(c *cluster.Cluster, alongside func(*workstation.Conn) error) (*workstation.Conn, error) {
	conn, err := l.m.cfg.Connect(c)
	if err != nil {
		return nil, err
	}
	now := l.m.cfg.Clock.Now
	began := now()
	var alongsideTook time.Duration
	done := make(chan error, 1)
	if alongside == nil {
		done <- nil
	} else {
		go func() {
			err := alongside(conn)
			alongsideTook = now().Sub(began)
			done <- err
		}()
	}
	guardCtx, unguard, err := l.guard(conn)
	guardTook := now().Sub(began)
	if aerr := <-done; err == nil {
		err = aerr
	}
	if err != nil {
		unguard()
		return nil, err
	}
	l.log.Info("cluster connected", "cluster", c.Name, "guard", guardTook, "alongside", alongsideTook)
	l.mu.Lock()
	if l.unguard != nil {
		l.unguard()
	}
	l.unguard = unguard
	l.conn = conn
	l.engine = conn.Checks()
	l.active = now()
	l.mu.Unlock()
	l.watchCluster(guardCtx, conn, now())
	return conn, nil
}

// guard keeps the namespaces of conn's cluster within the limits until the
// returned context is cancelled (which also ends the health probes under it).
func (l *Learner) guard(conn *workstation.Conn) (context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(l.life)
	if err := l.m.cfg.Limits.Guard(ctx, conn.Client, l.log); err != nil {
		return ctx, cancel, fmt.Errorf("namespace limits: %w", err)
	}
	return ctx, cancel, nil
}

// guardAgain starts the namespace guard and the health probes again on the
// learner's cluster, woken from a pause, unless it is no longer theirs.
func (l *Learner) guardAgain(conn *workstation.Conn) error {
	ctx, unguard, err := l.guard(conn)
	if err != nil {
		unguard()
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != conn {
		unguard()
		return nil
	}
	if l.unguard != nil {
		l.unguard()
	}
	l.unguard = unguard
	l.watchCluster(ctx, conn, l.m.cfg.Clock.Now())
	return nil
}

// stopWatching stops the checks, the namespace guard and the health probes,
// and leaves the connection and the terminal as they are; l.mu must be held.
func (l *Learner) stopWatching() {
	if l.unwatch != nil {
		l.unwatch()
		l.unwatch = nil
	}
	if l.unguard != nil {
		l.unguard()
		l.unguard = nil
	}
}

// 2. Steps and their checks.

// GoTo makes step n current (the learner picked it).
func (l *Learner) GoTo(n int) {
	if n >= 1 && n <= len(l.lab.Steps) && n != l.Session().Step {
		l.Wake(l.life) // the step's setup and checks need the cluster
		l.startStep(n)
	}
}

// startStep makes step n current and watches its checks.
func (l *Learner) startStep(n int) {
	l.mu.Lock()
	if l.life.Err() != nil { // the session has ended
		l.mu.Unlock()
		return
	}
	if n < 1 || n > len(l.lab.Steps) {
		n = 1
	}
	if l.unwatch != nil {
		l.unwatch()
	}
	l.sess.Step = n
	engine := l.engine
	l.checks = Checks{Step: n}
	l.begun, l.begunAt = check.StepState{}, 0
	ctx, cancel := context.WithCancel(l.life)
	l.unwatch = cancel
	l.mu.Unlock()
	l.save(ctx)
	started := l.m.cfg.Clock.Now()
	l.m.saver.save("step start", func(ctx context.Context) error { return l.m.cfg.Store.StepStarted(ctx, l.id, n, started) })
	l.record(ctx, workshop.KindStepStart, n, "")
	first := l.cmds.Next()
	l.mu.Lock()
	l.stepCmd = first
	l.mu.Unlock()
	if engine != nil {
		go l.watch(ctx, engine, n, first)
	}
}

// watch evaluates step n's checks until ctx ends, publishing each change. The
// step's commands are those from firstCommand on.
func (l *Learner) watch(ctx context.Context, engine *check.Engine, n int, firstCommand uint64) {
	step := l.lab.Steps[n-1]
	if err := l.stepSetup(ctx, step); err != nil {
		l.log.Error("step setup", "step", n, "error", err)
		l.Tell("This step could not set your cluster up, so its checks may not pass. Tell your instructor.")
	}
	l.begin(ctx, engine, n, firstCommand)
}

// begin takes the state step n's checks start from, then evaluates them.
func (l *Learner) begin(ctx context.Context, engine *check.Engine, n int, firstCommand uint64) {
	step := l.lab.Steps[n-1]
	state, err := engine.Begin(ctx, step, l.lab.WorkNamespace())
	if err != nil {
		l.log.Warn("begin step", "step", n, "error", err)
	}
	state.Commands = func() []shellmark.Command { return l.cmds.Since(firstCommand) }
	l.mu.Lock()
	if l.sess.Step == n && ctx.Err() == nil {
		l.begun, l.begunAt = state, n
	}
	l.mu.Unlock()
	l.evaluate(ctx, engine, n, state)
}

// watchAgain evaluates the current step's checks again, from the state they
// began with, without its setup (after a pause).
func (l *Learner) watchAgain(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine == nil || l.life.Err() != nil {
		return
	}
	if l.unwatch != nil {
		l.unwatch()
	}
	wctx, cancel := context.WithCancel(l.life)
	l.unwatch = cancel
	engine, n := l.engine, l.sess.Step
	if l.begunAt != n { // paused before the step's checks began: begin them now
		go l.begin(wctx, engine, n, l.stepCmd)
		return
	}
	go l.evaluate(wctx, engine, n, l.begun)
}

// evaluate watches step n's checks from state until ctx ends, publishing
// each change.
func (l *Learner) evaluate(ctx context.Context, engine *check.Engine, n int, state check.StepState) {
	step := l.lab.Steps[n-1]
	out := make(chan []check.Result, 1)
	w := &check.Watcher{Engine: engine, Tick: l.m.cfg.CheckTick, Poke: l.poke}
	go w.Watch(ctx, state, step.Checks, out)
	l.mu.Lock()
	passed := l.checks.Step == n && l.checks.AllPassed // a step that passed before a pause
	l.mu.Unlock()
	for {
		var results []check.Result
		select {
		case <-ctx.Done():
			return
		case results = <-out:
		}
		now := Checks{Step: n, AllPassed: len(results) > 0}
		for _, r := range results {
			now.Results = append(now.Results, CheckResult{ID: r.CheckID, Status: r.Status, Message: r.Message})
			if r.Status != check.Pass {
				now.AllPassed = false
			}
		}
		l.mu.Lock()
		if l.sess.Step != n {
			l.mu.Unlock()
			return
		}
		before := l.checks
		l.checks = now
		l.publish(Event{EventChecks, now})
		l.mu.Unlock()
		for _, r := range changed(before, now) {
			l.recordCheck(ctx, n, r)
			if r.Status == check.Error { // the learner sees plain words; the cause goes to the log
				i := slices.IndexFunc(results, func(c check.Result) bool { return c.CheckID == r.ID })
				l.log.Warn("check could not run", "step", n, "check", r.ID, "cause", results[i].Detail)
			}
		}
		if now.AllPassed && !passed {
			passed = true
			now := l.m.cfg.Clock.Now()
			l.m.saver.save("step pass", func(ctx context.Context) error { return l.m.cfg.Store.StepPassed(ctx, l.id, n, now) })
			l.mu.Lock()
			ended := l.ended
			l.mu.Unlock()
			if !ended.IsZero() {
				l.log.Info("step passed", "step", n, "after_command", now.Sub(ended))
			}
			l.record(ctx, workshop.KindStepPass, n, "")
		}
	}
}

// stepSetup applies the step's setup with admin rights.
func (l *Learner) stepSetup(ctx context.Context, step labs.Step) error {
	conn := l.Conn()
	if conn == nil || len(step.Setup) == 0 {
		return nil
	}
	return cluster.ApplySetup(ctx, conn, l.m.cfg.Manifests, l.lab.WorkNamespace(), step.Setup)
}

// changed returns the results of now that are new or differ from before.
func changed(before, now Checks) []CheckResult {
	var out []CheckResult
	for _, r := range now.Results {
		i := slices.IndexFunc(before.Results, func(p CheckResult) bool { return p.ID == r.ID })
		if i < 0 || before.Results[i] != r {
			out = append(out, r)
		}
	}
	return out
}

// PassedSteps reads which steps have passed, for the step navigation.
func (l *Learner) PassedSteps(ctx context.Context) ([]bool, error) {
	prog, err := l.m.cfg.Store.Progress(ctx, l.id)
	out := make([]bool, len(l.lab.Steps))
	if err != nil {
		return out, err
	}
	for step, p := range prog {
		if step >= 1 && step <= len(out) && !p.Passed.IsZero() {
			out[step-1] = true
		}
	}
	return out, nil
}

// 3. The terminal.

// NewShellText is the terminal's notice when a new shell starts after one the
// learner had (it ended, the cluster was replaced, kindlab restarted).
const NewShellText = "A new shell: your earlier output is above."

// ErrNotReady is returned for what needs the learner's cluster before it is ready.
var ErrNotReady = errors.New("the cluster is not ready yet")

// Terminal returns the learner's terminal session, starting a shell in the
// workstation when there is none or the last one ended.
func (l *Learner) Terminal() (*terminal.Session, error) {
	l.termMu.Lock() // one shell starts at a time; l.mu is not held meanwhile
	defer l.termMu.Unlock()
	l.mu.Lock()
	t, conn, ready := l.term, l.conn, l.sess.State == store.StateReady
	l.mu.Unlock()
	if t != nil {
		select {
		case <-t.Done():
		default:
			return t, nil
		}
	}
	if conn == nil || !ready {
		return nil, ErrNotReady
	}
	if err := l.Wake(l.life); err != nil {
		return nil, ErrNotReady // a new cluster is on its way
	}
	tty, err := conn.Terminal(l.life, l.lab.ID)
	if err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	l.cmds.Restart()
	if t == nil {
		l.mu.Lock()
		t = l.lastTerm
		l.mu.Unlock()
	}
	history := l.history(t)
	t, err = terminal.NewSession(tty, terminal.WithLogger(l.log), terminal.WithClock(l.m.cfg.Clock),
		terminal.WithObserver(typing{l.cmds, l.Active}), terminal.WithHistory(history))
	if err != nil {
		tty.Close()
		return nil, err
	}
	_, seq := t.Since(0)
	if len(history) > 0 {
		t.Notice(NewShellText)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != conn || l.life.Err() != nil { // reset, lost or ended meanwhile
		t.Close()
		return nil, ErrNotReady
	}
	l.term, l.lastTerm, l.output = t, nil, outputSaved{t.Epoch(), seq}
	return t, nil
}

// typing is the terminal's observer: the command tracker, told too that the
// learner is active (a keystroke wakes a paused cluster; the shell takes it
// once the node thaws).
type typing struct {
	*shellmark.Tracker
	active func()
}

func (t typing) Typed(p []byte) {
	t.Tracker.Typed(p)
	t.active()
}

// startShell starts the learner's shell in the background, so that it has
// drawn its prompt by the time the page's terminal connects.
func (l *Learner) startShell() {
	go func() {
		if _, err := l.Terminal(); err != nil && !errors.Is(err, ErrNotReady) {
			l.log.Warn("could not start the shell before the page asked", "error", err)
		}
	}()
}

// 4. What the learner and the instructor may do to a session.

// Reset gives the learner a fresh cluster; progress and the current step stay.
func (l *Learner) Reset(ctx context.Context) { l.renew(ctx, workshop.KindReset, "") }

// renew takes the learner's cluster away and provisions a fresh one, recording
// why (kind, when not empty) and telling the learner (told, when not empty) first, in the page
// and in the terminal about to end. It reports whether the learner has a ready
// cluster after it: false too when another provision was under way or the
// session has ended.
func (l *Learner) renew(ctx context.Context, kind workshop.Kind, told string) bool {
	old, ok := l.leave(ctx, kind, told, false)
	if !ok {
		return false
	}
	if old != "" {
		go l.m.cfg.Pool.Release(context.WithoutCancel(ctx), old)
	}
	l.provision()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess.State == store.StateReady && l.conn != nil
}

// leave takes the learner off their cluster and returns its name: the
// terminal about to end shows told, what runs against the cluster stops, and
// the session reads provisioning; kind (when not empty) is recorded and told
// (when not empty) shown on the page. With same, the learner waits for this
// same cluster to come back: the session keeps naming it and stays busy (no
// reset takes it over) until the caller frees it; without, it names none. It
// reports false, doing nothing, while another provision is under way or once
// the session has ended.
func (l *Learner) leave(ctx context.Context, kind workshop.Kind, told string, same bool) (string, bool) {
	l.mu.Lock()
	if l.busy || l.life.Err() != nil {
		l.mu.Unlock()
		return "", false
	}
	l.busy = same
	old, step := l.sess.Cluster, l.sess.Step
	if told != "" && l.term != nil {
		l.term.Notice(told)
	}
	l.disconnect()
	l.sess.State = store.StateProvisioning
	if !same {
		l.sess.Cluster = ""
	}
	l.checks = Checks{}
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

// disconnect stops what runs against the learner's cluster; l.mu must be held.
func (l *Learner) disconnect() {
	if l.unwatch != nil {
		l.unwatch()
	}
	if l.term != nil {
		l.term.Close()
		l.term, l.lastTerm = nil, l.term
	}
	if l.unguard != nil {
		l.unguard()
		l.unguard = nil
	}
	l.engine, l.conn = nil, nil
	l.asleep = false
	if l.woken != nil {
		l.woken()
	}
	l.begun, l.begunAt = check.StepState{}, 0
}

// FastForward clicks the Run buttons (or runs the solution) of every step
// before n in the learner's workstation, in a terminal of its own, as the
// learner would, then moves them to step n.
func (l *Learner) FastForward(ctx context.Context, n int) error {
	if n < 1 || n > len(l.lab.Steps) {
		return fmt.Errorf("no step %d", n)
	}
	if err := l.redo(ctx, l.Session().Step, n); err != nil {
		return err
	}
	l.record(ctx, workshop.KindFastForward, n, "") // steps before n count as passed
	l.startStep(n)
	return nil
}

// redo clicks the Run buttons (or runs the solution) of steps from up to, not
// including, to, with their setup, in a terminal of its own.
func (l *Learner) redo(ctx context.Context, from, to int) error {
	if from >= to {
		return nil
	}
	if err := l.Wake(ctx); err != nil {
		return err
	}
	conn := l.Conn()
	if conn == nil {
		return ErrNotReady
	}
	ty, err := conn.Typist(ctx, l.lab.ID)
	if err != nil {
		return err
	}
	defer ty.Close() // and with it a command the steps left running
	for i := from; i < to; i++ {
		if err := l.stepSetup(ctx, l.lab.Steps[i-1]); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		blocks := l.lab.Steps[i-1].Walk()
		for j, b := range blocks {
			mayLeave := j == len(blocks)-1 || blocks[j+1].Interrupt
			if _, err := ty.Run(ctx, b, mayLeave, 3*time.Minute); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
		}
	}
	return nil
}

// Extend gives the session d more time before it expires.
func (l *Learner) Extend(ctx context.Context, d time.Duration) {
	l.mu.Lock()
	l.sess.Expires = l.sess.Expires.Add(d)
	l.mu.Unlock()
	l.save(ctx)
}

// Tell shows the instructor's message on the learner's page.
func (l *Learner) Tell(text string) {
	l.mu.Lock()
	l.publish(Event{EventMessage, Message{Text: text}})
	l.mu.Unlock()
}

// 5. The end.

// end stops the learner's watcher and terminal, releases the cluster and marks
// the session expired; why goes to the workshop's record.
func (l *Learner) end(ctx context.Context, why string) {
	l.stop()
	l.mu.Lock()
	name := l.sess.Cluster
	l.disconnect()
	l.sess.State = store.StateExpired
	l.publish(Event{EventProgress, Progress{Stage: StageQueue, Error: "This session has ended."}})
	l.mu.Unlock()
	l.save(ctx)
	l.m.saver.save("terminal output", func(ctx context.Context) error { return l.m.cfg.Store.DeleteTerminalOutput(ctx, l.id) })
	l.record(ctx, workshop.KindLeave, 0, why) // before the cluster's delete, which takes seconds
	if name != "" {
		if err := l.m.cfg.Pool.Release(ctx, name); err != nil {
			l.log.Error("release cluster", "cluster", name, "error", err)
		}
	}
}

func (l *Learner) setState(ctx context.Context, s store.State) {
	l.mu.Lock()
	l.sess.State = s
	l.mu.Unlock()
	l.save(ctx)
}

// save stores the session as it is now (retried until it lands; see saver).
func (l *Learner) save(context.Context) {
	s := l.Session()
	l.m.saver.save("session", func(ctx context.Context) error { return l.m.cfg.Store.UpdateSession(ctx, s) })
}
