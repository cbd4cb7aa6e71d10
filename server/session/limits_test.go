package session

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestLimitHits: an evicted pod and a container killed for memory are told
// once each, in words that name the pod and the limit; the system's own pods
// and healthy ones are not.
func TestLimitHits(t *testing.T) {
	oom := &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
	pod := func(ns, name string, status corev1.PodStatus, limit string) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + name)}, Status: status,
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
		if limit != "" {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}
		}
		return p
	}
	pods := []corev1.Pod{
		pod("default", "filler", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted",
			Message: "Pod ephemeral local storage usage exceeds the total limit of containers 32Mi. "}, ""),
		pod("many1", "hog", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: oom}}}}, "256Mi"),
		pod("kindlab", "workstation", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", State: corev1.ContainerState{Terminated: oom}}}}, ""),
		pod("kube-system", "coredns", corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on memory"}, ""),
		pod("default", "fine", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "64Mi"),
	}
	seen := map[string]bool{}
	got := limitHits(pods, seen)
	want := []string{
		"pod default/filler was evicted by its node: Pod ephemeral local storage usage exceeds the total limit of containers 32Mi.",
		"container app of pod many1/hog was killed for using more than its memory limit, 256Mi",
		"container app of pod kindlab/workstation was killed for using more than the node's memory",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if again := limitHits(pods, seen); len(again) != 0 {
		t.Errorf("told again: %q", again)
	}
}
