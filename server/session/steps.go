package session

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/workstation"
)

// steps is the watch on the learner's current step: its checks, evaluated
// against their cluster while they are Ready, and the commands it counts.
type steps struct {
	engine   *check.Engine      // the checks' engine on the learner's cluster; nil without one
	checks   Checks             // the latest results, as the page has them
	unwatch  context.CancelFunc // ends the current step's watcher
	begun    check.StepState    // the current step's state when its checks began
	begunAt  int                // the step begun is of (0: none yet)
	firstCmd uint64             // the current step's first command (shellmark.Tracker.Next)
	poke     chan struct{}      // a command ended in the terminal: look at the checks now
	ended    time.Time          // when the last command in the terminal ended
}

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
	if l.steps.unwatch != nil {
		l.steps.unwatch()
	}
	l.sess.Step = n
	engine := l.steps.engine
	l.steps.checks = Checks{Step: n}
	l.steps.begun, l.steps.begunAt = check.StepState{}, 0
	ctx, cancel := context.WithCancel(l.life)
	l.steps.unwatch = cancel
	l.mu.Unlock()
	l.save(ctx)
	started := l.m.cfg.Clock.Now()
	l.m.saver.save("step start", func(ctx context.Context) error { return l.m.cfg.Store.StepStarted(ctx, l.id, n, started) })
	l.record(ctx, activity.KindStepStart, n, "")
	first := l.shell.cmds.Next()
	l.mu.Lock()
	l.steps.firstCmd = first
	l.mu.Unlock()
	if engine != nil {
		go l.watch(ctx, engine, n, first)
	}
}

// watch evaluates step n's checks until ctx ends, publishing each change. The
// step's commands are those from firstCommand on.
func (l *Learner) watch(ctx context.Context, engine *check.Engine, n int, firstCommand uint64) {
	if err := l.stepSetup(ctx, n); err != nil {
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
	state.Commands = func() []shellmark.Command { return l.shell.cmds.Since(firstCommand) }
	l.mu.Lock()
	if l.sess.Step == n && ctx.Err() == nil {
		l.steps.begun, l.steps.begunAt = state, n
	}
	l.mu.Unlock()
	l.evaluate(ctx, engine, n, state)
}

// watchAgain evaluates the current step's checks again, from the state they
// began with, without its setup (after a pause).
func (l *Learner) watchAgain() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.steps.engine == nil || l.life.Err() != nil {
		return
	}
	if l.steps.unwatch != nil {
		l.steps.unwatch()
	}
	wctx, cancel := context.WithCancel(l.life)
	l.steps.unwatch = cancel
	engine, n := l.steps.engine, l.sess.Step
	if l.steps.begunAt != n { // paused before the step's checks began: begin them now
		go l.begin(wctx, engine, n, l.steps.firstCmd)
		return
	}
	go l.evaluate(wctx, engine, n, l.steps.begun)
}

// evaluate watches step n's checks from state until ctx ends, publishing
// each change.
func (l *Learner) evaluate(ctx context.Context, engine *check.Engine, n int, state check.StepState) {
	step := l.lab.Steps[n-1]
	out := make(chan []check.Result, 1)
	w := &check.Watcher{Engine: engine, Tick: l.m.cfg.CheckTick, Poke: l.steps.poke}
	go w.Watch(ctx, state, step.Checks, out)
	l.mu.Lock()
	passed := l.steps.checks.Step == n && l.steps.checks.AllPassed // a step that passed before a pause
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
		before := l.steps.checks
		l.steps.checks = now
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
			ended := l.steps.ended
			l.mu.Unlock()
			if !ended.IsZero() {
				l.log.Info("step passed", "step", n, "after_command", now.Sub(ended))
			}
			l.record(ctx, activity.KindStepPass, n, "")
		}
	}
}

// stepSetup applies step n's setup with admin rights.
func (l *Learner) stepSetup(ctx context.Context, n int) error {
	conn := l.Conn()
	if conn == nil {
		return nil
	}
	return l.driver(conn).SetUpStep(ctx, n)
}

// driver does the learner's lab on conn, as validate does (platform.Driver).
func (l *Learner) driver(conn *workstation.Conn) platform.Driver {
	return platform.Driver{Conn: conn, Lab: l.lab, Manifests: l.m.cfg.Manifests}
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
	l.record(ctx, activity.KindFastForward, n, "") // steps before n count as passed
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
	d := l.driver(conn)
	ty, err := d.Typist(ctx)
	if err != nil {
		return err
	}
	defer ty.Close() // and with it a command the steps left running
	return d.Redo(ctx, ty, from, to, 3*time.Minute)
}

// Tell shows the instructor's message on the learner's page.
func (l *Learner) Tell(text string) {
	l.mu.Lock()
	l.publish(Event{EventMessage, Message{Text: text}})
	l.mu.Unlock()
}
