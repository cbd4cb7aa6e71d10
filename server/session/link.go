package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/internal/clock"
	"github.com/kindlab/kindlab/internal/podstatus"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/server/terminal"
	"github.com/kindlab/kindlab/workstation"
)

// link is the learner's hold on their cluster, and what runs against it:
// while they are Ready, the namespace guard, the health probes (which find a
// lost cluster and recover it) and the limits' look-out; while they are
// Asleep, only a watch on their terminal. An idle learner's cluster is paused
// (Docker's freezer: its processes stop where they are and use no CPU) and
// woken by what the learner does next: a keystroke, the lab page, the
// terminal, an app link, a fast-forward. The terminal's stream stays open
// meanwhile (see workstation.Conn.Terminal), so what the learner types is
// taken by their same shell once the node thaws.
type link struct {
	conn     *workstation.Conn  // the learner's cluster, while they have one
	unguard  context.CancelFunc // ends the namespace guard, the probes and the look-out
	unsleep  context.CancelFunc // ends the asleep watch on the terminal (wakeIfEnded)
	active   time.Time          // when the learner last did something (Active)
	replaced []time.Time        // when lost clusters were replaced, within replacementWindow
}

// Conn is the connection to the learner's cluster; nil while there is none.
func (l *Learner) Conn() *workstation.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.link.conn
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
	if l.link.unguard != nil {
		l.link.unguard()
	}
	l.link.unguard = unguard
	l.link.conn = conn
	l.steps.engine = l.driver(conn).Checks()
	l.link.active = now()
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
	if l.link.conn != conn {
		unguard()
		return nil
	}
	if l.link.unguard != nil {
		l.link.unguard()
	}
	l.link.unguard = unguard
	l.watchCluster(ctx, conn, l.m.cfg.Clock.Now())
	return nil
}

// stopWatching stops the checks, the namespace guard and the health probes,
// and leaves the connection and the terminal as they are; l.mu must be held.
func (l *Learner) stopWatching() {
	if l.steps.unwatch != nil {
		l.steps.unwatch()
		l.steps.unwatch = nil
	}
	if l.link.unguard != nil {
		l.link.unguard()
		l.link.unguard = nil
	}
}

// lostAfter is how many probes in a row must fail for a cluster to be lost
// (unless slowFor applies): with the probe's own timeout, a dead cluster is
// declared lost within 10 s of the first failed probe, and one slow answer is
// not a loss.
const lostAfter = 3

// slowFor is how long a cluster whose node still runs, and has not restarted
// since it last answered, may time out its probes before it is lost. A busy host
// (another cluster being made beside it, images loading) or a host cluster's
// API slow to pass the probes on makes them time out for seconds in a row;
// replacing the cluster then would throw the learner's work away for nothing.
const slowFor = 45 * time.Second

// watchCluster starts, until ctx ends, the health probes of the learner's
// cluster (watchHealth) and the look-out for limits it hits (watchLimits).
func (l *Learner) watchCluster(ctx context.Context, conn *workstation.Conn, answered time.Time) {
	go l.watchHealth(ctx, conn, answered)
	go l.watchLimits(ctx, conn)
}

// watchHealth probes the learner's cluster every HealthEvery (the API server
// answers /readyz and the workstation pod is Ready) until ctx ends; when
// lostAfter probes in a row fail, the cluster is lost and recovered, unless
// they timed out while its node runs as it did: then it is lost once it has
// not answered for slowFor. answered is when the cluster last answered (when
// conn was made).
func (l *Learner) watchHealth(ctx context.Context, conn *workstation.Conn, answered time.Time) {
	every := l.m.cfg.HealthEvery
	if every <= 0 {
		return
	}
	tick := l.m.cfg.Clock.NewTicker(every)
	defer tick.Stop()
	failed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
		err := probe(ctx, conn, min(every, 3*time.Second), workstationRunning)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failed, answered = 0, l.m.cfg.Clock.Now()
			continue
		}
		failed++
		l.log.Warn("cluster probe failed", "failed", failed, "error", err)
		if failed < lostAfter {
			continue
		}
		if silent := l.m.cfg.Clock.Now().Sub(answered); timedOut(err) && silent < slowFor && l.nodeRunsSince(ctx, answered) {
			if failed == lostAfter {
				l.log.Warn("cluster slow to answer; its node runs, so kindlab waits for it", "silent", silent.Round(time.Second), "up_to", slowFor)
			}
			continue
		}
		go l.recover(context.WithoutCancel(ctx), err, answered)
		return
	}
}

// timedOut reports whether a probe failed for want of an answer in time, as a
// busy cluster's does; one refused, reset or answered "not ready" did not.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// nodeRunsSince reports whether the learner's cluster's node runs and has not
// started again since answered.
func (l *Learner) nodeRunsSince(ctx context.Context, answered time.Time) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	node, err := l.m.cfg.Clusters.Node(ctx, l.Session().Cluster)
	return err == nil && node.State == cluster.NodeRunning && !node.Started.After(answered)
}

// probe asks the API server whether it is ready and the workstation whether it
// passes ok (workstationBackSince or workstationRunning).
func probe(ctx context.Context, conn *workstation.Conn, timeout time.Duration, ok func(*corev1.Pod) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(conn.Config.Host, "/")+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: conn.Transport()}).Do(req)
	if err != nil {
		return fmt.Errorf("API server: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("API server: /readyz answered %s", resp.Status)
	}
	p, err := conn.Client.CoreV1().Pods(workstation.Namespace).Get(ctx, workstation.Pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("workstation: %w", err)
	}
	return ok(p)
}

// workstationReady: the workstation pod is Ready.
func workstationReady(p *corev1.Pod) error {
	if podstatus.Ready(p) {
		return nil
	}
	return errors.New("workstation: not ready")
}

// workstationBackSince: the workstation pod is Ready and its containers run
// since its node last started (since), as a cluster coming back must show
// before the learner is put on it. Just after the node restarts, the API
// server still holds the pod's status from before (Ready: the node
// controller has not noticed the node was gone) while the kubelet does not
// know the pod yet, and a terminal into it fails ("pod does not exist").
func workstationBackSince(since time.Time) func(*corev1.Pod) error {
	since = since.Truncate(time.Second) // a container's start time is kept in seconds
	return func(p *corev1.Pod) error {
		if err := workstationReady(p); err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 {
			return errors.New("workstation: no container started yet")
		}
		for _, c := range p.Status.ContainerStatuses {
			switch r := c.State.Running; {
			case r == nil:
				return fmt.Errorf("workstation: container %s is not running", c.Name)
			case r.StartedAt.Time.Before(since):
				return fmt.Errorf("workstation: container %s has not started again since its node did", c.Name)
			}
		}
		return nil
	}
}

// workstationRunning: the workstation pod runs and none of its containers has
// stopped. The health probes ask this, not Ready: the node controller marks
// every pod not Ready for a few seconds when the kubelet's heartbeat is late,
// as it is just after the node thaws from a pause, while the shell runs on.
func workstationRunning(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("workstation: %s", p.Status.Phase)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil {
			return fmt.Errorf("workstation: container %s is not running", c.Name)
		}
	}
	return nil
}

// recover brings the learner back to the step they were on after their cluster
// was lost (it last answered at answered): on the same cluster, with all their
// work, when its node comes back by itself (the Docker engine restarting, or
// the node restarted since by its restart policy); otherwise on a new one, with
// the earlier steps redone.
func (l *Learner) recover(ctx context.Context, cause error, answered time.Time) {
	s := l.Session()
	l.log.Error("cluster lost", "cluster", s.Cluster, "step", s.Step, "error", cause)
	node, err := l.m.cfg.Clusters.Node(ctx, s.Cluster)
	engineDown := errors.Is(err, cluster.ErrEngineDown)
	restarted := node.State == cluster.NodeRestarting || node.State == cluster.NodeRunning && node.Started.After(answered)
	if engineDown || restarted {
		if l.awaitReturn(ctx, s.Cluster, s.Step, engineDown) {
			return
		}
		if !l.mayReplace(ctx, "") {
			return
		}
		l.replace(ctx, replaceLost, "", fmt.Sprintf("Your cluster did not come back. A new one is on its way, and you will be back on step %d with the work of the steps before it done for you.", s.Step))
		return
	}
	if !l.mayReplace(ctx, activity.KindLost) {
		return
	}
	what := "stopped"
	if err == nil && node.State == cluster.NodeRunning {
		what = "stopped answering"
	}
	l.replace(ctx, replaceLost, activity.KindLost, fmt.Sprintf("Your cluster %s. A new one is on its way, and you will be back on step %d with the work of the steps before it done for you.", what, s.Step))
}

// A learner's lost cluster is replaced by itself at most maxReplacements
// times in replacementWindow. A cluster that the learner's own work keeps
// breaking (a Service on the API server's own address, say) would otherwise
// take a new cluster from the pool again and again, and with it the room's.
const (
	maxReplacements   = 3
	replacementWindow = 10 * time.Minute
)

// mayReplace counts one more replacement of the learner's lost cluster and
// reports whether it is within the budget. Past it, the learner is taken off
// the lost cluster (which goes back to the pool), their session fails with a
// message saying why, and the instructor's dashboard hears it (kind, when not
// empty, is recorded first): Try again (a reset) gives them a fresh cluster
// when they choose to.
func (l *Learner) mayReplace(ctx context.Context, kind activity.Kind) bool {
	now := l.m.cfg.Clock.Now()
	l.mu.Lock()
	l.link.replaced = slices.DeleteFunc(l.link.replaced, func(t time.Time) bool { return now.Sub(t) >= replacementWindow })
	within := len(l.link.replaced) < maxReplacements
	if within {
		l.link.replaced = append(l.link.replaced, now)
	}
	l.mu.Unlock()
	if within {
		return true
	}
	msg := fmt.Sprintf("Your cluster was lost %d times in %s, so kindlab does not replace it again by itself: something in it, perhaps your own work, keeps breaking it. Press Try again for a fresh cluster, or ask your instructor.",
		maxReplacements+1, replacementWindow)
	old, ok := l.leave(ctx, replaceLost, kind, msg)
	if !ok {
		return false
	}
	if old != "" {
		go l.m.cfg.Pool.Release(context.WithoutCancel(ctx), old)
	}
	l.log.Warn("lost cluster not replaced: too many replacements", "cluster", old, "replacements", maxReplacements, "within", replacementWindow)
	// The state last: a session seen failed has told the learner and the
	// instructor why.
	l.record(ctx, activity.KindFailed, 0, fmt.Sprintf("cluster lost %d times in %s: not replaced again until the learner tries again", maxReplacements+1, replacementWindow))
	l.moveTelling(ctx, fail, Progress{Stage: StageQueue, Error: msg})
	return false
}

// comeBackWithin is how long a lost cluster whose node runs again gets to
// answer before it is replaced, counted from when the Docker engine answers.
const comeBackWithin = 2 * time.Minute

// awaitReturn waits for the learner's lost cluster to come back by itself and
// puts the learner back on it, on step, with their terminal new. It reports
// whether it did, or whether a reset under way took the session over; when it
// reports false, the lost event is recorded and the old cluster still named
// for the replacement to release.
func (l *Learner) awaitReturn(ctx context.Context, name string, step int, engineDown bool) bool {
	told := fmt.Sprintf("Your cluster stopped and is starting again. kindlab waits for it; you will be back on step %d with all your work.", step)
	if engineDown {
		told = fmt.Sprintf("The workshop host's container engine stopped. Your cluster should come back with it; kindlab waits for it, and you will be back on step %d with all your work.", step)
	}
	if _, ok := l.leave(ctx, lose, activity.KindLost, told); !ok {
		return true // a reset is under way, or the session ended
	}
	l.setProgress(Progress{Stage: StageComeBack})
	start := l.m.cfg.Clock.Now()
	c, err := l.waitBack(ctx, name, engineDown)
	if err == nil {
		_, err = l.use(c, nil)
	}
	if err != nil {
		l.log.Warn("the lost cluster did not come back", "cluster", name, "error", err)
		return false
	}
	took := l.m.cfg.Clock.Now().Sub(start).Round(time.Second)
	l.record(ctx, activity.KindReady, 0, name)
	l.startStep(step)
	l.record(ctx, activity.KindRecovered, step, "the same cluster came back after "+took.String())
	l.Tell(fmt.Sprintf("Your cluster is back, with all your work, on step %d (it took %s). Your terminal is new.", step, took))
	l.becomeReady(ctx)
	l.log.Info("cluster came back", "cluster", name, "took", took)
	return true
}

// waitBack waits for cluster name to answer again: for the Docker engine as
// long as it takes (nothing else can run without it), then comeBackWithin for
// the node to run and its API server and workstation to answer. A node that
// has stopped for good (exited, paused, gone) ends the wait at once, unless
// the engine has just come back and may still be restarting it.
func (l *Learner) waitBack(ctx context.Context, name string, engineDown bool) (*cluster.Cluster, error) {
	clock := l.m.cfg.Clock
	tick := clock.NewTicker(2 * time.Second)
	defer tick.Stop()
	var answered time.Time // when the engine first answered
	for {
		node, err := l.m.cfg.Clusters.Node(ctx, name)
		state := node.State
		switch {
		case errors.Is(err, cluster.ErrEngineDown):
			engineDown = true
		case err != nil:
			return nil, err
		default:
			now := clock.Now()
			if answered.IsZero() {
				answered = now
			}
			if state == cluster.NodeRunning {
				c, err := l.answering(ctx, name, node.Started)
				if err == nil {
					return c, nil
				}
				l.log.Debug("cluster not answering yet", "cluster", name, "error", err)
			}
			restarting := state == cluster.NodeRunning || state == cluster.NodeRestarting ||
				engineDown && now.Sub(answered) < 30*time.Second
			if !restarting {
				return nil, fmt.Errorf("its node is %q", state)
			}
			if now.Sub(answered) > comeBackWithin {
				return nil, fmt.Errorf("it did not answer within %s of the engine (its node is %q)", comeBackWithin, state)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C():
		}
	}
}

// answering finds cluster name afresh (a restarted node's NodePort mapping is
// new) and probes it once: its workstation must have started again since its
// node did (at nodeStarted), and kubectl in it must reach the API server.
func (l *Learner) answering(ctx context.Context, name string, nodeStarted time.Time) (*cluster.Cluster, error) {
	c, err := l.m.cfg.Clusters.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	conn, err := l.m.cfg.Connect(c)
	if err != nil {
		return nil, err
	}
	if err := probe(ctx, conn, 3*time.Second, workstationBackSince(nodeStarted)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := conn.ReachesAPI(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// RestartStep gives the learner a fresh cluster and brings them back to their
// step ("Start this step again on a fresh cluster"); Reset keeps only the step.
func (l *Learner) RestartStep(ctx context.Context) {
	step := l.Session().Step
	l.replace(ctx, reset, activity.KindReset, fmt.Sprintf("A fresh cluster is on its way; you will be back at the start of step %d with the work of the steps before it done for you.", step))
}

// replace swaps the learner's cluster for a fresh one from the pool and redoes
// the steps before the current one on it (their Run buttons, as fast-forward
// does), recording why (kind) and telling the learner (told) first; h is
// reset (the learner asked) or replaceLost (kindlab lost it).
func (l *Learner) replace(ctx context.Context, h happening, kind activity.Kind, told string) {
	start := l.m.cfg.Clock.Now()
	step := l.Session().Step
	if !l.renew(ctx, h, kind, told) {
		return // provision said what went wrong
	}
	if err := l.redo(ctx, 1, step); err != nil {
		l.log.Error("redo the earlier steps", "step", step, "error", err)
		l.Tell(fmt.Sprintf("Your new cluster is ready, but the work of the steps before step %d could not be redone. Use Reset my cluster, or ask your instructor.", step))
		l.record(ctx, activity.KindRecovered, step, "the earlier steps could not be redone")
		return
	}
	l.startStep(step) // its checks begin again, on the redone state
	took := l.m.cfg.Clock.Now().Sub(start).Round(time.Second)
	l.record(ctx, activity.KindRecovered, step, took.String())
	l.Tell(fmt.Sprintf("You are back on step %d on a new cluster (it took %s). Your terminal is new; the steps before were redone for you.", step, took))
}

// wakeWithin bounds how long a woken cluster gets to answer again before it
// is replaced; a thawed node answers within a second (BenchmarkPauseResume).
const wakeWithin = 20 * time.Second

// Active records that the learner did something that needs their cluster,
// and wakes it in the background if it sleeps.
func (l *Learner) Active() {
	l.mu.Lock()
	now := l.m.cfg.Clock.Now()
	l.link.active, l.sess.LastSeen = now, now
	asleep := l.phase == Asleep
	l.mu.Unlock()
	if asleep {
		go l.Wake(l.life)
	}
}

// idleFor is how long ago the learner last did something: Active, or input
// or output in their terminal. A command still running in the terminal (a
// port-forward, a watch) keeps them active: it should not stop under them.
func (l *Learner) idleFor(now time.Time) time.Duration {
	l.mu.Lock()
	last, t := l.link.active, l.shell.term
	l.mu.Unlock()
	if t == nil {
		return now.Sub(last)
	}
	if prompts, atPrompt := l.shell.cmds.Prompts(); prompts > 0 && !atPrompt {
		return 0
	}
	if t.LastActivity().After(last) {
		last = t.LastActivity()
	}
	return now.Sub(last)
}

// sleep pauses the learner's cluster, which has sat idle for idle: Ready,
// Pausing, Asleep. A learner in any other phase is left alone.
func (l *Learner) sleep(ctx context.Context, idle time.Duration) {
	l.mu.Lock()
	if l.link.conn == nil || l.life.Err() != nil || !l.move(pause) {
		l.mu.Unlock()
		return
	}
	name, step, term := l.sess.Cluster, l.sess.Step, l.shell.term
	if term != nil {
		select {
		case <-term.Done(): // ended before: not the node's doing
			term = nil
		default:
		}
	}
	l.stopWatching()
	asleep, unsleep := context.WithCancel(l.life)
	l.link.unsleep = unsleep
	l.mu.Unlock()
	err := l.m.cfg.Clusters.Pause(ctx, name)
	l.mu.Lock()
	if err != nil {
		back := l.move(woken)
		conn := l.link.conn
		l.mu.Unlock()
		unsleep()
		l.log.Warn("could not pause an idle learner's cluster; it keeps running", "cluster", name, "error", err)
		if !back {
			return // reset or ended meanwhile
		}
		if err := l.guardAgain(conn); err != nil {
			l.log.Error("namespace guard after a failed pause", "cluster", name, "error", err)
		}
		l.watchAgain()
		return
	}
	moved := l.move(paused)
	l.mu.Unlock()
	if !moved { // reset or ended meanwhile
		return
	}
	l.log.Info("cluster paused: the learner is idle", "cluster", name, "idle", idle.Round(time.Second))
	l.record(ctx, activity.KindPaused, step, "idle for "+idle.Round(time.Second).String())
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

// Wake resumes the learner's cluster if it sleeps (Asleep, Waking, Ready),
// waiting first for a pause or a wake under way, and returns once it answers
// and its checks run again. A cluster that does not wake within wakeWithin is
// lost and replaced, the learner kept on their step, and Wake returns the error.
func (l *Learner) Wake(ctx context.Context) error {
	l.mu.Lock()
	for l.phase == Pausing || l.phase == Waking {
		l.settled.Wait()
	}
	if !l.move(wake) {
		l.mu.Unlock()
		return nil
	}
	name, step, conn := l.sess.Cluster, l.sess.Step, l.link.conn
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
	current := l.phase == Waking && l.link.conn == conn // not reset or ended meanwhile
	if l.link.unsleep != nil {
		l.link.unsleep()
	}
	if current && err != nil {
		l.move(lose)
	} else if current {
		l.move(woken)
	}
	l.mu.Unlock()
	if !current {
		return nil
	}
	if err != nil {
		l.log.Error("a paused cluster did not wake up; replacing it", "cluster", name, "error", err)
		go l.replace(context.WithoutCancel(l.life), replaceLost, activity.KindLost, fmt.Sprintf(
			"Your cluster was paused while you were away and did not wake up. A new one is on its way, and you will be back on step %d with the work of the steps before it done for you.", step))
		return fmt.Errorf("wake cluster %s: %w", name, err)
	}
	if err := l.guardAgain(conn); err != nil {
		l.log.Error("namespace guard after waking; replacing the cluster", "cluster", name, "error", err)
		go l.replace(context.WithoutCancel(l.life), replaceLost, activity.KindLost, fmt.Sprintf(
			"Your cluster did not come back properly after a pause. A new one is on its way, and you will be back on step %d with the work of the steps before it done for you.", step))
		return err
	}
	took := l.m.cfg.Clock.Now().Sub(start)
	l.log.Info("cluster woken", "cluster", name, "took", took.Round(time.Millisecond))
	// Recorded before the checks run again, so that the log reads in order:
	// woken, then whatever the learner's work passes.
	l.record(ctx, activity.KindResumed, step, took.Round(time.Millisecond).String())
	l.watchAgain()
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
		if idle := l.idleFor(now); idle >= m.cfg.PauseIdle && l.Phase() == Ready {
			go l.sleep(ctx, idle)
		}
	}
}
