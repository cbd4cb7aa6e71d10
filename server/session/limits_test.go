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

// TestRefusals: kubectl's words for a refusal by the learner's budget (the
// admission policies, the quota, the LimitRange) are found in a command's
// output, once each; other errors, Pod Security's included, are not.
func TestRefusals(t *testing.T) {
	out := strings.Join([]string{
		`The namespaces "many11" is invalid: : ValidatingAdmissionPolicy 'kindlab-learner-namespaces' with binding 'kindlab-learner-namespaces' denied request: kindlab: you have 10 namespaces of your own, the most a learner may hold (10); delete one (kubectl delete namespace NAME) to make another`,
		`error: failed to create configmap: configmaps "cm21" is forbidden: exceeded quota: kindlab-quota, requested: configmaps=1, used: configmaps=20, limited: configmaps=20`,
		`Error from server (Forbidden): error when creating "STDIN": pods "big" is forbidden: [maximum memory usage per Container is 512Mi, but limit is 1Gi, maximum cpu usage per Container is 1, but limit is 2]`,
		`Error from server (Forbidden): pods "big" is forbidden: maximum memory usage per Container is 512Mi, but limit is 1Gi`,
		`error: failed to create configmap: configmaps "cm22" is forbidden: exceeded quota: kindlab-quota, requested: configmaps=1, used: configmaps=20, limited: configmaps=20`,
		`Error from server (Forbidden): pods "root" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`,
		`Error from server (NotFound): deployments.apps "homepage" not found`,
		`kindlab: you have 10 namespaces of your own`, // not kubectl's words for a refusal
	}, "\r\n")
	want := []string{
		"kindlab: you have 10 namespaces of your own, the most a learner may hold (10); delete one (kubectl delete namespace NAME) to make another",
		"exceeded quota: kindlab-quota, requested: configmaps=1, used: configmaps=20, limited: configmaps=20",
		"maximum memory usage per Container is 512Mi, but limit is 1Gi, maximum cpu usage per Container is 1, but limit is 2",
		"maximum memory usage per Container is 512Mi, but limit is 1Gi",
	}
	if got := refusals(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("refusals:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	long := refusals("denied request: kindlab: " + strings.Repeat("é", 400))
	if len(long) != 1 || len(long[0]) > maxRefusal+len("…") || !strings.HasSuffix(long[0], "…") {
		t.Errorf("a long refusal: %q; want it cut at %d bytes", long, maxRefusal)
	}
}
