package session

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/cluster/workstation"
	"github.com/kindlab/kindlab/server/workshop"
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
// was so when it starts is not told (it was, before a restart).
func (l *Learner) watchLimits(ctx context.Context, conn *workstation.Conn) {
	tick := l.m.cfg.Clock.NewTicker(limitsEvery)
	defer tick.Stop()
	var seen map[string]bool
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
			for _, h := range hits {
				l.log.Info("learner hit a limit", "what", h)
				l.record(ctx, workshop.KindLimit, l.Session().Step, h)
				l.mu.Lock()
				l.publish(Event{EventLimit, Limit{Text: h}})
				l.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
	}
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
		if p.Namespace != workstation.Namespace && slices.Contains(cluster.PlatformNamespaces, p.Namespace) {
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
