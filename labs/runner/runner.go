// Package runner runs labs headlessly, the way `kindlab validate` does: a fresh
// cluster per lab, and for every step its checks must fail first, then the step's
// Run buttons (or its solution, when it has one) are typed into the learner's own
// shell in a terminal, as a learner clicking them would (workstation.Typist), then
// every check must pass within its timeout. So a lab that validates is a lab that
// can be passed as written.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/workstation"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/internal/shellmark"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
)

// Clusters is what the runner needs of the cluster manager.
type Clusters interface {
	Create(ctx context.Context, name string) (*cluster.Cluster, error)
	Delete(ctx context.Context, name string) error
	LoadImages(ctx context.Context, name string, images ...string) error
}

// Runner validates labs.
type Runner struct {
	Clusters  Clusters
	Manifests fs.FS // the manifests/ folder: lab files and platform/
	Parallel  int   // labs at once (default 1)
	// Creates is how many of those labs' clusters are created at once (default
	// 1): a create keeps both cores of a small host busy, a lab's steps mostly
	// wait, so one lab's steps run while the next lab's cluster is made.
	Creates int
	Repeat  int // evaluations of each check after it passes, to find flaky ones (default 1)
	// CommandTimeout bounds one command (default 3m).
	CommandTimeout time.Duration
	Log            *slog.Logger
	// Keep leaves clusters in place after the run, for debugging.
	Keep bool
}

// Report is the outcome of a validation run.
type Report struct {
	Labs     []LabResult   `json:"labs"`
	Duration time.Duration `json:"duration"`
}

// Failed reports whether anything failed.
func (r Report) Failed() bool {
	for _, l := range r.Labs {
		if l.Failed() {
			return true
		}
	}
	return false
}

// LabResult is one lab's outcome.
type LabResult struct {
	Lab      string        `json:"lab"`
	Title    string        `json:"title"`
	Cluster  string        `json:"cluster,omitempty"`
	Setup    time.Duration `json:"setup"` // cluster create and workstation
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"` // why the lab could not run to the end
	Steps    []StepResult  `json:"steps"`
}

// Failed reports whether the lab or any of its steps failed.
func (l LabResult) Failed() bool {
	if l.Error != "" {
		return true
	}
	for _, s := range l.Steps {
		if s.Failed() {
			return true
		}
	}
	return false
}

// StepResult is one step's outcome.
type StepResult struct {
	Step     string        `json:"step"` // file name
	Title    string        `json:"title"`
	Duration time.Duration `json:"duration"`
	Commands []Command     `json:"commands"`
	Checks   []CheckResult `json:"checks"`
	Error    string        `json:"error,omitempty"`
}

// Failed reports whether the step or any of its checks failed.
func (s StepResult) Failed() bool {
	if s.Error != "" {
		return true
	}
	for _, c := range s.Checks {
		if c.Problem != "" {
			return true
		}
	}
	return false
}

// Command is one command of the step as it ran. A Run button's command that
// fails is not an error of the step (some steps are about a failure); the
// checks judge.
type Command struct {
	Line     string        `json:"line"`
	ExitCode int           `json:"exitCode"` // -1 while Running
	Running  bool          `json:"running"`  // left running, as a learner would go on
	Output   string        `json:"output"`
	Duration time.Duration `json:"duration"`
}

// CheckResult is one check's outcome.
type CheckResult struct {
	ID      string        `json:"id"`
	Kind    labs.Kind     `json:"kind"`
	Before  check.Result  `json:"before"` // before the solution: must not pass
	After   check.Result  `json:"after"`  // the last evaluation after the solution
	ToPass  time.Duration `json:"toPass"` // from the end of the solution to the first pass
	Runs    int           `json:"runs"`   // evaluations after the first pass (--repeat)
	Flaky   int           `json:"flaky"`  // of those, how many did not pass
	Problem string        `json:"problem,omitempty"`
}

// Run validates the labs, in parallel up to r.Parallel (their clusters made up
// to r.Creates at a time), and never stops early: a lab that breaks is
// reported and the next one runs.
func (r *Runner) Run(ctx context.Context, toRun []*labs.Lab) Report {
	start := time.Now()
	results := make([]LabResult, len(toRun))
	running := make(chan struct{}, max(1, r.Parallel))
	creates := make(chan struct{}, max(1, r.Creates))
	var wg sync.WaitGroup
	for i, lab := range toRun {
		wg.Add(1)
		go func() {
			defer wg.Done()
			running <- struct{}{}
			defer func() { <-running }()
			results[i] = r.runLab(ctx, lab, creates)
		}()
	}
	wg.Wait()
	return Report{Labs: results, Duration: time.Since(start)}
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// runLab validates one lab on a cluster of its own, made while it holds a
// place in creates.
func (r *Runner) runLab(ctx context.Context, lab *labs.Lab, creates chan struct{}) (res LabResult) {
	start := time.Now()
	res = LabResult{Lab: lab.ID, Title: lab.Title}
	defer func() { res.Duration = time.Since(start) }()
	log := r.log().With("lab", lab.ID)

	name := "val-" + shortID(lab.ID) + "-" + randomHex(3)
	select {
	case creates <- struct{}{}:
	case <-ctx.Done():
		res.Error = "validation cancelled"
		return res
	}
	log.Info("creating cluster", "cluster", name)
	c, err := r.Clusters.Create(ctx, name)
	<-creates
	if err != nil {
		res.Error = fmt.Sprintf("create cluster: %v", err)
		return res
	}
	res.Cluster = c.Name
	if !r.Keep {
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if err := r.Clusters.Delete(dctx, c.Name); err != nil {
				log.Error("delete cluster", "cluster", c.Name, "error", err)
			}
		}()
	}
	// What runs against the cluster (the namespace guard) stops before it is deleted.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := r.Clusters.LoadImages(ctx, c.Name, lab.Images...); err != nil {
		res.Error = err.Error()
		return res
	}
	env, err := r.connect(ctx, c, lab)
	res.Setup = time.Since(start)
	if err == nil {
		err = env.SetUp(ctx)
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer env.typist.Close()

	for n, step := range lab.Steps {
		sr := r.runStep(ctx, env, n+1)
		res.Steps = append(res.Steps, sr)
		log.Info("step done", "step", step.File, "took", sr.Duration.Round(time.Millisecond), "failed", sr.Failed())
		if ctx.Err() != nil {
			res.Error = "validation cancelled"
			break
		}
		if sr.Error != "" && env.shellDead(ctx) {
			res.Error = fmt.Sprintf("step %s: %s; the remaining steps were not run", step.File, sr.Error)
			break
		}
	}
	return res
}

// env is a prepared cluster with the lab on it: the driver, an engine for
// checks and the learner's shell.
type env struct {
	platform.Driver
	engine *check.Engine
	typist *workstation.Typist
}

// shellDead reports whether the shell is gone or stuck (no prompt in 30 s
// after Ctrl-C): the steps after cannot run.
func (e *env) shellDead(ctx context.Context) bool { return e.typist.Interrupt(ctx) != nil }

// connect readies a new cluster as the pool readies one (platform.Prepare),
// then hands it to the lab as a learner's claim does: the lab's files placed
// for the learner's shell, the namespace guard (until ctx ends), a shell.
func (r *Runner) connect(ctx context.Context, c *cluster.Cluster, lab *labs.Lab) (*env, error) {
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	platformFS, err := fs.Sub(r.Manifests, "platform")
	if err != nil {
		return nil, err
	}
	if err := platform.Prepare(ctx, conn, platformFS, nil); err != nil {
		return nil, fmt.Errorf("prepare cluster: %w", err)
	}
	limits, err := platform.LoadNamespaceLimits(platformFS)
	if err != nil {
		return nil, err
	}
	d := platform.Driver{Conn: conn, Lab: lab, Manifests: r.Manifests}
	if _, err := d.PlaceFiles(ctx); err != nil {
		return nil, err
	}
	return newEnv(ctx, d, limits)
}

// newEnv connects to a prepared cluster: the namespace guard (until ctx ends), the
// check engine and a shell in the workstation.
func newEnv(ctx context.Context, d platform.Driver, limits platform.NamespaceLimits) (*env, error) {
	if err := limits.Guard(ctx, d.Conn.Client, nil); err != nil {
		return nil, fmt.Errorf("namespace limits: %w", err)
	}
	typist, err := d.Typist(ctx)
	if err != nil {
		return nil, err
	}
	return &env{Driver: d, engine: d.Checks(), typist: typist}, nil
}

func (r *Runner) runStep(ctx context.Context, e *env, n int) (sr StepResult) {
	start := time.Now()
	step := e.Lab.Steps[n-1]
	sr = StepResult{Step: step.File, Title: step.Title}
	defer func() { sr.Duration = time.Since(start) }()
	if err := e.SetUpStep(ctx, n); err != nil {
		sr.Error = err.Error()
		return sr
	}
	state, err := e.engine.Begin(ctx, step, e.Lab.WorkNamespace())
	if err != nil {
		sr.Error = fmt.Sprintf("begin step: %v", err)
		return sr
	}
	// 1. Every check must not pass yet: a check that already passes proves nothing.
	for _, c := range step.Checks {
		before := e.engine.Evaluate(ctx, state, c)
		cr := CheckResult{ID: c.ID, Kind: c.Kind, Before: before}
		if before.Status == check.Pass {
			cr.Problem = fmt.Sprintf("broken check: passes before the step's solution ran (%s)", before.Message)
		}
		sr.Checks = append(sr.Checks, cr)
	}
	// 2. The Run buttons (or the solution), typed into the learner's shell.
	commands := e.typist.Commands()
	first := commands.Next()
	state.Commands = func() []shellmark.Command { return commands.Since(first) }
	timeout := r.CommandTimeout
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	var failed error // a solution command that failed
	err = e.Click(ctx, e.typist, n, timeout, func(b labs.RunnableBlock, c shellmark.Command, took time.Duration) error {
		sr.Commands = append(sr.Commands, Command{Line: b.Command, ExitCode: c.Exit, Running: c.Running, Output: c.Output, Duration: took})
		if len(step.Solution) > 0 && c.Exit != 0 {
			failed = fmt.Errorf("solution command %q exited %d: %s", b.Command, c.Exit, lastLines(c.Output, 5))
			return failed
		}
		return nil
	})
	switch {
	case failed != nil:
		sr.Error = failed.Error()
		return sr
	case err != nil:
		sr.Error = fmt.Sprintf("%v (the terminal shows: %s)", err, lastLines(plainText(e.typist.Screen()), 5))
		return sr
	}
	// 3. Every check must pass within its timeout, then hold for the repeats.
	solved := time.Now()
	var wg sync.WaitGroup
	for i, c := range step.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.awaitPass(ctx, e.engine, state, c, solved, &sr.Checks[i])
		}()
	}
	wg.Wait()
	return sr
}

func (r *Runner) awaitPass(ctx context.Context, engine *check.Engine, state check.StepState, c labs.Check, solved time.Time, cr *CheckResult) {
	timeout := c.Timeout.Std()
	if timeout == 0 {
		timeout = labs.DefaultCheckTimeout.Std()
	}
	deadline := solved.Add(timeout)
	for {
		cr.After = engine.Evaluate(ctx, state, c)
		if cr.After.Status == check.Pass {
			cr.ToPass = time.Since(solved)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if cr.Problem == "" {
				cr.Problem = fmt.Sprintf("did not pass within %s: %s", timeout, cr.After.Message)
				if cr.After.Detail != "" { // an author wants the cause
					cr.Problem += " [" + cr.After.Detail + "]"
				}
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	for i := 1; i < max(1, r.Repeat); i++ {
		cr.Runs++
		if res := engine.Evaluate(ctx, state, c); res.Status != check.Pass {
			cr.Flaky++
			cr.After = res
		}
	}
	if cr.Flaky > 0 && cr.Problem == "" {
		cr.Problem = fmt.Sprintf("flaky: %d of %d later evaluations did not pass (%s)", cr.Flaky, cr.Runs, cr.After.Message)
	}
}

func shortID(id string) string {
	if len(id) > 20 {
		id = id[:20]
	}
	return id
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// terminalCodes are the escape sequences of a terminal's output (colours,
// modes, titles).
var terminalCodes = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])|\r`)

// plainText is terminal output as text.
func plainText(s string) string { return terminalCodes.ReplaceAllString(s, "") }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
