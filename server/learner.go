package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/workstation"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/server/workshop"
	"github.com/kindlab/kindlab/web"
)

// Provisioning stages, as the progress view shows them.
const (
	stageQueue    = "Waiting for a cluster"
	stageFiles    = "Copying the lab files"
	stageTerminal = "Starting your terminal"
	stageReady    = "Ready"
)

// event is one Server-Sent Event for a learner's page.
type event struct {
	Name string // progress, checks, message, reset
	Data any
}

type progressData struct {
	Stage string `json:"stage"`
	Done  bool   `json:"done"`
	Queue int    `json:"queue"`
	Error string `json:"error"`
}

type checksData struct {
	Step      int               `json:"step"`
	Results   []web.CheckResult `json:"results"`
	AllPassed bool              `json:"allPassed"`
}

// learner is the live side of a session: its cluster connection, terminal, check
// watcher and the pages subscribed to its events. The store holds what must
// survive a restart; a learner is rebuilt from it.
type learner struct {
	srv    *Server
	lab    *labs.Lab
	client string // the address that started it (per-client limits)
	// life ends when the session does: a provision still queued for a cluster
	// gives up its place then, and never claims one afterwards.
	life context.Context
	end  context.CancelFunc

	mu       sync.Mutex
	sess     store.Session
	conn     *workstation.Conn // the learner's cluster, while it is theirs
	engine   *check.Engine
	term     *terminal.Session
	progress progressData
	checks   checksData
	stop     context.CancelFunc // the current step's check watcher
	guard    context.CancelFunc // the namespace guard of the current cluster
	subs     map[chan event]struct{}
	busy     bool // provisioning or resetting
}

func newLearner(srv *Server, lab *labs.Lab, sess store.Session) *learner {
	life, end := context.WithCancel(srv.ctx)
	return &learner{srv: srv, lab: lab, sess: sess, subs: map[chan event]struct{}{}, life: life, end: end}
}

func (l *learner) session() store.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess
}

// subscribe returns a channel of the learner's events, starting with the current
// progress and check results.
func (l *learner) subscribe() (chan event, func()) {
	ch := make(chan event, 32)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	ch <- event{"progress", l.progress}
	if l.checks.Step > 0 {
		ch <- event{"checks", l.checks}
	}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// publish sends an event to every subscriber; l.mu must be held. A subscriber too
// slow to take it loses the event (progress and checks are states: the next one
// carries everything).
func (l *learner) publish(e event) {
	for ch := range l.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

func (l *learner) setProgress(p progressData) {
	l.mu.Lock()
	l.progress = p
	l.publish(event{"progress", p})
	l.mu.Unlock()
}

// provision claims a cluster and readies it for this learner, reporting each stage.
// It runs in the background after a start, a reset or a restart, for as long as
// the session lives.
func (l *learner) provision() {
	ctx := l.life
	l.mu.Lock()
	if l.busy {
		l.mu.Unlock()
		return
	}
	l.busy = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.busy = false
		l.mu.Unlock()
	}()
	log := l.srv.Logger.With("session", l.sess.ID, "lab", l.lab.ID)
	fail := func(msg string, err error) {
		log.Error("provision failed", "error", err)
		l.mu.Lock()
		l.sess.State = "failed"
		l.mu.Unlock()
		l.save(ctx)
		l.setProgress(progressData{Stage: stageQueue, Error: msg})
	}
	l.setProgress(progressData{Stage: stageQueue})
	c, err := l.srv.Pool.Claim(ctx, func(pos int) { l.setProgress(progressData{Stage: stageQueue, Queue: pos}) })
	if err != nil && ctx.Err() != nil {
		return // the session ended while it waited: its place in the queue is gone
	}
	if err != nil {
		fail("No cluster could be made for you. Try again in a minute; if it keeps failing, tell your instructor.", err)
		return
	}
	l.mu.Lock()
	if ctx.Err() != nil { // the session ended as the cluster came: give it back
		l.mu.Unlock()
		l.srv.Pool.Release(context.WithoutCancel(ctx), c.Name)
		return
	}
	l.sess.Cluster = c.Name
	l.mu.Unlock()
	l.save(ctx)
	l.setProgress(progressData{Stage: stageFiles})
	conn, err := l.connect(ctx, c)
	if err != nil {
		fail("Your cluster did not come up. Use Try again to get a fresh one.", err)
		return
	}
	l.setProgress(progressData{Stage: stageTerminal})
	if err := conn.WaitReady(ctx, 2*time.Minute); err != nil {
		fail("Your terminal did not start. Use Try again to get a fresh cluster.", err)
		return
	}
	l.mu.Lock()
	l.sess.State = "ready"
	l.mu.Unlock()
	l.save(ctx)
	l.event(ctx, "ready", 0, c.Name)
	l.setProgress(progressData{Stage: stageReady, Done: true})
	l.startStep(l.sess.Step)
	log.Info("learner ready", "cluster", c.Name)
}

// connect builds the clients for a claimed cluster and copies the lab files in.
func (l *learner) connect(ctx context.Context, c *cluster.Cluster) (*workstation.Conn, error) {
	conn, err := l.use(c)
	if err != nil {
		return nil, err
	}
	files, err := workstation.LabFiles(l.srv.Manifests, l.lab)
	if err != nil {
		return nil, err
	}
	return conn, conn.CopyFiles(ctx, files)
}

// reconnect rebuilds the clients of a ready session after a server restart.
func (l *learner) reconnect(ctx context.Context) error {
	c, err := l.srv.Clusters.Get(ctx, l.sess.Cluster)
	if err != nil {
		return err
	}
	if _, err := l.use(c); err != nil {
		return err
	}
	l.setProgress(progressData{Stage: stageReady, Done: true})
	l.startStep(l.sess.Step)
	return nil
}

// use points the learner's clients and check engine at cluster c.
func (l *learner) use(c *cluster.Cluster) (*workstation.Conn, error) {
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	guardCtx, stopGuard := context.WithCancel(l.life)
	if err := l.srv.nsLimits.Guard(guardCtx, conn.Client, l.srv.Logger.With("session", l.sess.ID)); err != nil {
		stopGuard()
		return nil, fmt.Errorf("namespace limits: %w", err)
	}
	l.mu.Lock()
	if l.guard != nil {
		l.guard()
	}
	l.guard = stopGuard
	l.conn = conn
	l.engine = conn.Checks()
	l.mu.Unlock()
	return conn, nil
}

// connection is the learner's cluster connection; nil while there is none.
func (l *learner) connection() *workstation.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn
}

// startStep makes step n current and watches its checks.
func (l *learner) startStep(n int) {
	l.mu.Lock()
	if n < 1 || n > len(l.lab.Steps) {
		n = 1
	}
	if l.stop != nil {
		l.stop()
	}
	l.sess.Step = n
	engine := l.engine
	step := l.lab.Steps[n-1]
	l.checks = checksData{Step: n}
	ctx, cancel := context.WithCancel(l.srv.ctx)
	l.stop = cancel
	l.mu.Unlock()
	l.save(ctx)
	l.srv.Store.StepStarted(ctx, l.sess.ID, n, l.srv.Clock.Now())
	l.event(ctx, "step-start", n, "")
	if engine == nil {
		return
	}
	go l.watch(ctx, engine, n, step)
}

func (l *learner) watch(ctx context.Context, engine *check.Engine, n int, step labs.Step) {
	ns := l.lab.Namespace
	if ns == "" {
		ns = labs.DefaultNamespace
	}
	state, err := engine.Begin(ctx, step, ns)
	if err != nil {
		l.srv.Logger.Warn("begin step", "session", l.sess.ID, "step", n, "error", err)
	}
	out := make(chan []check.Result, 1)
	w := &check.Watcher{Engine: engine, Tick: l.srv.CheckTick}
	go w.Watch(ctx, state, step.Checks, out)
	passed := false
	for {
		select {
		case <-ctx.Done():
			return
		case results := <-out:
			data := checksData{Step: n, AllPassed: len(results) > 0}
			for _, r := range results {
				data.Results = append(data.Results, web.CheckResult{ID: r.CheckID, Status: web.Status(r.Status), Message: r.Message})
				if r.Status != check.Pass {
					data.AllPassed = false
				}
			}
			l.mu.Lock()
			if l.sess.Step != n {
				l.mu.Unlock()
				return
			}
			prev := map[string]web.CheckResult{}
			for _, r := range l.checks.Results {
				prev[r.ID] = r
			}
			sess := l.sess
			l.checks = data
			l.publish(event{"checks", data})
			l.mu.Unlock()
			if sess.Workshop != "" {
				for _, r := range data.Results {
					if p, ok := prev[r.ID]; !ok || p.Status != r.Status || p.Message != r.Message {
						l.srv.record(ctx, workshop.Event{At: l.srv.Clock.Now(), Workshop: sess.Workshop, Session: sess.ID,
							Kind: workshop.KindCheck, Step: n, CheckID: r.ID, Status: string(r.Status), Message: r.Message})
					}
				}
			}
			if data.AllPassed && !passed {
				passed = true
				l.srv.Store.StepPassed(ctx, l.sess.ID, n, l.srv.Clock.Now())
				l.event(ctx, "step-pass", n, "")
				l.srv.metrics.stepsPassed.Add(1)
			}
		}
	}
}

// terminal returns the learner's terminal session, starting a shell in the
// workstation when there is none or the last one ended.
func (l *learner) terminal(ctx context.Context) (*terminal.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term != nil {
		select {
		case <-l.term.Done():
		default:
			return l.term, nil
		}
	}
	if l.conn == nil || l.sess.State != "ready" {
		return nil, errors.New("the cluster is not ready yet")
	}
	t, err := l.conn.Terminal(l.srv.ctx)
	if err != nil {
		return nil, fmt.Errorf("start shell: %w", err)
	}
	s, err := terminal.NewSession(t, terminal.WithLogger(l.srv.Logger.With("session", l.sess.ID)))
	if err != nil {
		t.Close()
		return nil, err
	}
	l.term = s
	return s, nil
}

// reset gives the learner a fresh cluster; progress and the current step stay.
func (l *learner) reset(ctx context.Context) {
	l.mu.Lock()
	if l.busy {
		l.mu.Unlock()
		return
	}
	old := l.sess.Cluster
	if l.stop != nil {
		l.stop()
	}
	if l.term != nil {
		l.term.Close()
		l.term = nil
	}
	if l.guard != nil {
		l.guard()
		l.guard = nil
	}
	l.engine, l.conn = nil, nil
	l.sess.State, l.sess.Cluster = "provisioning", ""
	l.checks = checksData{}
	l.mu.Unlock()
	l.event(ctx, "reset", l.sess.Step, old)
	if old != "" {
		go l.srv.Pool.Release(context.WithoutCancel(ctx), old)
	}
	l.provision()
}

// close stops the learner's watcher and terminal and releases its cluster.
func (l *learner) close(ctx context.Context, state string) {
	l.end()
	l.mu.Lock()
	if l.stop != nil {
		l.stop()
	}
	if l.term != nil {
		l.term.Close()
	}
	if l.guard != nil {
		l.guard()
		l.guard = nil
	}
	name := l.sess.Cluster
	l.sess.State = state
	l.publish(event{"progress", progressData{Stage: stageQueue, Error: "This session has ended."}})
	l.mu.Unlock()
	l.save(ctx)
	if name != "" {
		if err := l.srv.Pool.Release(ctx, name); err != nil {
			l.srv.Logger.Error("release cluster", "cluster", name, "error", err)
		}
	}
}

func (l *learner) save(ctx context.Context) {
	l.mu.Lock()
	s := l.sess
	l.mu.Unlock()
	if err := l.srv.Store.UpdateSession(context.WithoutCancel(ctx), s); err != nil {
		l.srv.Logger.Error("save session", "session", s.ID, "error", err)
	}
}

func (l *learner) event(ctx context.Context, kind string, step int, detail string) {
	sess := l.session()
	l.srv.record(ctx, workshop.Event{At: l.srv.Clock.Now(), Workshop: sess.Workshop, Session: sess.ID, Kind: kind, Step: step,
		Name: sess.Name, Message: detail})
}

// passedSteps reads which steps have passed, for the step navigation.
func (l *learner) passedSteps(ctx context.Context) []bool {
	prog, err := l.srv.Store.Progress(ctx, l.sess.ID)
	out := make([]bool, len(l.lab.Steps))
	if err != nil {
		return out
	}
	for step, p := range prog {
		if step >= 1 && step <= len(out) && !p.Passed.IsZero() {
			out[step-1] = true
		}
	}
	return out
}

func (l *learner) currentChecks() checksData {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.checks
	c.Results = slices.Clone(c.Results)
	return c
}
