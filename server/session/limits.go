package session

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/server/activity"
	"github.com/kindlab/kindlab/workstation"
)

// limitsEvery is how often a learner's cluster is looked over for pods their
// budget stopped: cheap (one list of pods), and soon enough to be told while
// the learner still wonders.
const limitsEvery = 10 * time.Second

// Limit is a limit the learner's cluster hit (EventLimit).
type Limit struct {
	Text string `json:"text"`
}

// watchLimits looks over the learner's pods every limitsEvery until ctx ends
// and tells the learner's page and the workshop's dashboard of each pod the
// kubelet evicted or container it killed for want of memory, once each. What
// was so when it starts is not told (it was, before a restart). With a disk
// budget, it also deletes the pod holding the most once the learner's pods
// hold more than the budget in all (overDisk), and tells that.
func (l *Learner) watchLimits(ctx context.Context, conn *workstation.Conn) {
	tick := l.m.cfg.Clock.NewTicker(limitsEvery)
	defer tick.Stop()
	var seen map[string]bool
	deleted := map[string]time.Time{} // by overDisk, while the kubelet may still count them
	for {
		pods, err := conn.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			first := seen == nil
			if first {
				seen = map[string]bool{}
			}
			hits := limitHits(pods.Items, seen)
			if first {
				hits = nil
			}
			if h := l.overDisk(ctx, conn, deleted); h != "" {
				hits = append(hits, h)
			}
			for _, h := range hits {
				l.tellLimit(ctx, h)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
	}
}

// tellLimit tells the learner's page and the workshop's dashboard of a
// limit the learner hit, and stores it.
func (l *Learner) tellLimit(ctx context.Context, text string) {
	l.log.Info("learner hit a limit", "what", text)
	l.record(ctx, activity.KindLimit, l.Session().Step, text)
	l.mu.Lock()
	l.publish(Event{EventLimit, Limit{Text: text}})
	l.mu.Unlock()
}

// maxRefusalsTold is how many different refusals one learner is told of: a
// loop refused again and again says nothing new after the first.
const maxRefusalsTold = 32

// tellRefusals tells, once each, the refusals of the learner's budget that a
// command of theirs printed (refusals). A learner who prints one themselves
// only misleads their own page and row.
func (l *Learner) tellRefusals(ctx context.Context, output string) {
	for _, r := range refusals(output) {
		l.mu.Lock()
		told := l.refused[r] || len(l.refused) >= maxRefusalsTold
		if !told {
			if l.refused == nil {
				l.refused = map[string]bool{}
			}
			l.refused[r] = true
		}
		l.mu.Unlock()
		if !told {
			l.tellLimit(ctx, "a command was refused: "+r)
		}
	}
}

// budgetRefusal finds, in a line kubectl printed, the API server's refusal of
// a request by the learner's budget, and what it said: kindlab's admission
// policies (their messages begin "kindlab: "), the namespace's ResourceQuota
// and its LimitRange (manifests/platform).
var budgetRefusal = regexp.MustCompile(`denied request: (kindlab: .*)|(exceeded quota: kindlab-quota.*)|forbidden: \[?((?:maximum|minimum) \S+ usage per (?:Container|Pod) .*?)\]?$`)

// maxRefusal bounds the text of one refusal told.
const maxRefusal = 300

// refusals returns the distinct budget refusals in a command's output, in
// the order printed.
func refusals(output string) []string {
	var found []string
	for line := range strings.Lines(output) {
		m := budgetRefusal.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
		if m == nil {
			continue
		}
		r := strings.TrimSpace(m[1] + m[2] + m[3])
		if len(r) > maxRefusal {
			r = strings.ToValidUTF8(r[:maxRefusal], "") + "…"
		}
		if !slices.Contains(found, r) {
			found = append(found, r)
		}
	}
	return found
}

// limitHits returns, in the learner's words, each pod in pods the kubelet
// evicted and each container it killed for memory that seen does not hold,
// and adds them to seen.
func limitHits(pods []corev1.Pod, seen map[string]bool) []string {
	var hits []string
	hit := func(key, text string) {
		if seen[key] {
			return
		}
		seen[key] = true
		hits = append(hits, text)
	}
	for _, p := range pods {
		// Kubernetes' own pods are not the learner's; their workstation is.
		if p.Namespace != workstation.Namespace && slices.Contains(platform.PlatformNamespaces, p.Namespace) {
			continue
		}
		name := p.Namespace + "/" + p.Name
		if p.Status.Reason == "Evicted" {
			hit("evicted/"+string(p.UID), fmt.Sprintf("pod %s was evicted by its node: %s", name, strings.TrimSpace(p.Status.Message)))
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if t == nil || t.Reason != "OOMKilled" {
					continue
				}
				limit := "the node's memory"
				for _, c := range p.Spec.Containers {
					if m, ok := c.Resources.Limits[corev1.ResourceMemory]; c.Name == cs.Name && ok {
						limit = "its memory limit, " + m.String()
					}
				}
				hit("oom/"+string(p.UID)+"/"+cs.Name, fmt.Sprintf("container %s of pod %s was killed for using more than %s", cs.Name, name, limit))
			}
		}
	}
	return hits
}

// overDisk enforces the disk budget: when the learner's pods hold more than
// it in all (as the kubelet counts them), the pod holding the most is deleted
// at once; it says so, in the learner's words, or returns "". The pods it
// deleted in the last minute (deleted) are left out: the kubelet's figures
// lag behind a delete.
func (l *Learner) overDisk(ctx context.Context, conn *workstation.Conn, deleted map[string]time.Time) string {
	budget := l.m.cfg.DiskBudget
	if budget <= 0 {
		return ""
	}
	use, err := platform.PodsDiskUse(ctx, conn.Client)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("read what the learner's pods hold on disk", "error", err)
		}
		return ""
	}
	now := l.m.cfg.Clock.Now()
	use = slices.DeleteFunc(use, func(u platform.DiskUse) bool {
		at, ok := deleted[u.Namespace+"/"+u.Name]
		return ok && now.Sub(at) < time.Minute
	})
	victim, total, over := platform.DiskOver(budget, use)
	if !over || victim.Name == "" {
		return ""
	}
	deleted[victim.Namespace+"/"+victim.Name] = now
	grace := int64(0)
	err = conn.Client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		l.log.Error("delete a pod past the disk budget", "pod", victim.Namespace+"/"+victim.Name, "error", err)
		return ""
	}
	return fmt.Sprintf("pod %s/%s was deleted: your pods held %s on disk in all, more than your cluster's %s (it held %s)",
		victim.Namespace, victim.Name, cluster.Size(total), cluster.Size(budget), cluster.Size(victim.Bytes))
}
