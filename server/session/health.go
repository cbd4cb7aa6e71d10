package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlab/kindlab/cluster/workstation"
	"github.com/kindlab/kindlab/server/workshop"
)

// lostAfter is how many probes in a row must fail for a cluster to be lost:
// with the probe's own timeout, a dead cluster is declared lost within 10 s of
// the first failed probe, and one slow answer is not a loss.
const lostAfter = 3

// watchHealth probes the learner's cluster every HealthEvery (the API server
// answers /readyz and the workstation pod is Ready) until ctx ends; when
// lostAfter probes in a row fail, the cluster is lost and replaced.
func (l *Learner) watchHealth(ctx context.Context, conn *workstation.Conn) {
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
		err := probe(ctx, conn, min(every, 3*time.Second))
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failed = 0
			continue
		}
		failed++
		l.log.Warn("cluster probe failed", "failed", failed, "error", err)
		if failed >= lostAfter {
			go l.recover(context.WithoutCancel(ctx), err)
			return
		}
	}
}

// probe asks the API server whether it is ready and whether the workstation is.
func probe(ctx context.Context, conn *workstation.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc := conn.Client.Discovery().RESTClient()
	if rc == nil {
		return errors.New("no REST client")
	}
	if err := rc.Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
		return fmt.Errorf("API server: %w", err)
	}
	p, err := conn.Client.CoreV1().Pods(workstation.Namespace).Get(ctx, workstation.Pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("workstation: %w", err)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return errors.New("workstation: not ready")
}

// recover replaces a lost cluster and brings the learner back to the step
// they were on.
func (l *Learner) recover(ctx context.Context, cause error) {
	step := l.Session().Step
	l.log.Error("cluster lost", "cluster", l.Session().Cluster, "step", step, "error", cause)
	l.replace(ctx, workshop.KindLost, fmt.Sprintf("Your cluster stopped. A new one is on its way, and you will be back on step %d with the work of the steps before it done for you.", step))
}

// RestartStep gives the learner a fresh cluster and brings them back to their
// step ("Start this step again on a fresh cluster"); Reset keeps only the step.
func (l *Learner) RestartStep(ctx context.Context) {
	step := l.Session().Step
	l.replace(ctx, workshop.KindReset, fmt.Sprintf("A fresh cluster is on its way; you will be back at the start of step %d with the work of the steps before it done for you.", step))
}

// replace swaps the learner's cluster for a fresh one from the pool and redoes
// the steps before the current one on it (their Run buttons, as fast-forward
// does), recording why (kind) and telling the learner (told) first.
func (l *Learner) replace(ctx context.Context, kind workshop.Kind, told string) {
	start := l.m.cfg.Clock.Now()
	step := l.Session().Step
	if !l.renew(ctx, kind, told) {
		return // provision said what went wrong
	}
	if err := l.redo(ctx, 1, step); err != nil {
		l.log.Error("redo the earlier steps", "step", step, "error", err)
		l.Tell(fmt.Sprintf("Your new cluster is ready, but the work of the steps before step %d could not be redone. Use Reset my cluster, or ask your instructor.", step))
		l.record(ctx, workshop.KindRecovered, step, "the earlier steps could not be redone")
		return
	}
	l.startStep(step) // its checks begin again, on the redone state
	took := l.m.cfg.Clock.Now().Sub(start).Round(time.Second)
	l.record(ctx, workshop.KindRecovered, step, took.String())
	l.Tell(fmt.Sprintf("You are back on step %d on a new cluster (it took %s). Your terminal is new; the steps before were redone for you.", step, took))
}
