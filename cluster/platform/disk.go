package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlab/kindlab/workstation"
)

// DiskUse is what one pod holds on its node's disk, as the kubelet counts
// it (its writable layers, logs and emptyDir volumes).
type DiskUse struct {
	Namespace, Name string
	Bytes           int64
}

// PodsDiskUse reads what each pod holds on its node's disk, from the
// kubelet's stats summary of every node (through the API server's node
// proxy, which a learner may not use).
func PodsDiskUse(ctx context.Context, cs kubernetes.Interface) ([]DiskUse, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var use []DiskUse
	for _, n := range nodes.Items {
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy", "stats", "summary").DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s's stats: %w", n.Name, err)
		}
		var summary struct {
			Pods []struct {
				PodRef struct {
					Name, Namespace string
				} `json:"podRef"`
				EphemeralStorage *struct {
					UsedBytes *int64 `json:"usedBytes"`
				} `json:"ephemeral-storage"`
			} `json:"pods"`
		}
		if err := json.Unmarshal(raw, &summary); err != nil {
			return nil, fmt.Errorf("node %s's stats: %w", n.Name, err)
		}
		for _, p := range summary.Pods {
			if e := p.EphemeralStorage; e != nil && e.UsedBytes != nil {
				use = append(use, DiskUse{Namespace: p.PodRef.Namespace, Name: p.PodRef.Name, Bytes: *e.UsedBytes})
			}
		}
	}
	return use, nil
}

// DiskOver tells whether the learner's pods in use (every pod outside the
// platform's namespaces, and their workstation) hold more than budget
// (cluster.Budget.Disk) in all, how much they hold, and the pod to delete: the learner's that
// holds the most, never the workstation (whose own limit the kubelet
// enforces; a workstation alone over the budget names no pod).
func DiskOver(budget int64, use []DiskUse) (victim DiskUse, total int64, over bool) {
	if budget <= 0 {
		return DiskUse{}, 0, false
	}
	for _, u := range use {
		ws := u.Namespace == workstation.Namespace && u.Name == workstation.Pod
		if !ws && slices.Contains(PlatformNamespaces, u.Namespace) {
			continue
		}
		total += u.Bytes
		if !ws && u.Bytes > victim.Bytes {
			victim = u
		}
	}
	return victim, total, total > budget
}
