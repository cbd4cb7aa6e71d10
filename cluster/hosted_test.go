package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

func newTestHosted(t *testing.T, objects ...runtime.Object) (*Hosted, *fake.Clientset) {
	t.Helper()
	h, err := NewHosted(HostedOptions{
		Config: &rest.Config{Host: "https://127.0.0.1:1"}, Image: "kindlab/dind:abc", NodeImage: "kindlab/node:v1-abc",
		KubeconfigDir: t.TempDir(), CPU: "750m", Memory: "1500Mi", MemoryLimit: "3Gi",
	})
	if err != nil {
		t.Fatal(err)
	}
	cs := fake.NewClientset(objects...)
	h.client = cs
	return h, cs
}

// TestHostedPod: the learner cluster pod runs privileged with the image from
// the node (no registry), no service account token, its own disk for Docker,
// the requests the scheduler places it by, never beside kindlab's own pods in
// any namespace, and a preference for nodes without another learner.
func TestHostedPod(t *testing.T) {
	h, _ := newTestHosted(t)
	p := h.pod("kindlab-ada")
	c := p.Spec.Containers[0]
	switch {
	case c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged:
		t.Error("the engine container is not privileged (Docker in Docker needs it)")
	case c.ImagePullPolicy != corev1.PullNever:
		t.Errorf("image pull policy %q; want Never (there is no registry)", c.ImagePullPolicy)
	case p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken:
		t.Error("the pod mounts a service account token: a learner's node would hold credentials for the host cluster")
	case p.Spec.RestartPolicy != corev1.RestartPolicyNever:
		t.Errorf("restart policy %q; want Never (a new engine has no cluster)", p.Spec.RestartPolicy)
	case c.Resources.Requests.Cpu().String() != "750m" || c.Resources.Requests.Memory().String() != "1500Mi" || c.Resources.Limits.Memory().String() != "3Gi":
		t.Errorf("resources %+v; want requests 750m and 1500Mi, a 3Gi memory limit", c.Resources)
	case p.Spec.Affinity == nil || len(p.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1:
		t.Error("no preference to spread learner clusters over nodes")
	case len(p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
		p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels[PlatformLabel] != "kindlab" ||
		p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].NamespaceSelector == nil:
		t.Errorf("the pod may run beside kindlab's own pods: %+v", p.Spec.Affinity.PodAntiAffinity)
	case p.Labels[clusterLabel] != "kindlab-ada" || p.Labels[managedByLabel] != managedBy:
		t.Errorf("labels %v", p.Labels)
	}
	var docker bool
	for _, m := range c.VolumeMounts {
		docker = docker || m.MountPath == "/var/lib/docker"
	}
	if !docker || p.Spec.Volumes[0].EmptyDir == nil {
		t.Error("Docker's data is not on an emptyDir (overlay2 cannot run on the container's overlay root)")
	}
	if env := c.Env; len(env) != 1 || env[0].Value != "kindlab/node:v1-abc" {
		t.Errorf("env %v; want the node image", env)
	}
}

// TestHostedRefusals: each way a host cluster refuses the pod is told with
// what to change.
func TestHostedRefusals(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"pod security", apierrors.NewForbidden(gr, "kindlab-check", errors.New(`violates PodSecurity "baseline:latest": privileged (container "engine" must not set securityContext.privileged=true)`)),
			[]string{"refuses privileged pods", "Pod Security admission", "kubectl label namespace kindlab-clusters pod-security.kubernetes.io/enforce=privileged --overwrite"}},
		{"webhook", apierrors.NewForbidden(gr, "kindlab-check", errors.New(`admission webhook "validate.kyverno.svc" denied the request: disallow-privileged-containers`)),
			[]string{"admission webhook", "disallow-privileged-containers", "exempt namespace kindlab-clusters"}},
		{"admission policy", apierrors.NewForbidden(gr, "kindlab-check", errors.New(`ValidatingAdmissionPolicy 'no-privileged' with binding 'no-privileged' denied request`)),
			[]string{"ValidatingAdmissionPolicy", "no-privileged", "exclude namespace kindlab-clusters"}},
		{"rbac", apierrors.NewForbidden(gr, "kindlab-check", errors.New(`User "system:serviceaccount:kindlab:kindlab" cannot create resource "pods"`)),
			[]string{"refuses kindlab a pod", "manifests/kindlab/rbac.yaml"}},
		{"no namespace", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "kindlab-clusters"),
			[]string{`namespace "kindlab-clusters" does not exist`, "kubectl create namespace kindlab-clusters"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, cs := newTestHosted(t)
			var dryRun bool
			cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				dryRun = len(a.(k8stesting.CreateActionImpl).GetCreateOptions().DryRun) > 0
				return true, nil, tc.err
			})
			err := h.Check(context.Background())
			if err == nil {
				t.Fatal("Check passed a refused pod")
			}
			if !dryRun {
				t.Error("Check created the pod; want a dry run")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check said %q; want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestHostedNodeStates: what the pod's state says of the learner cluster's node.
func TestHostedNodeStates(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kindlab-clusters"}, Status: corev1.PodStatus{Phase: phase}}
	}
	h, _ := newTestHosted(t, pod("kindlab-pending", corev1.PodPending), pod("kindlab-failed", corev1.PodFailed))
	for name, want := range map[string]NodeState{"kindlab-gone": NodeGone, "kindlab-pending": NodeRestarting, "kindlab-failed": NodeExited} {
		n, err := h.Node(context.Background(), name)
		if err != nil || n.State != want {
			t.Errorf("Node(%s) = %+v, %v; want state %q", name, n, err, want)
		}
	}
	if _, err := h.Get(context.Background(), "kindlab-gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a cluster without a pod: %v; want ErrNotFound", err)
	}
	if err := h.Delete(context.Background(), "kindlab-gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of a cluster without a pod: %v; want ErrNotFound", err)
	}
}

// TestHostedPending: the scheduler's reason a pod waits is reported.
func TestHostedPending(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kindlab-wait", Namespace: "kindlab-clusters"}, Status: corev1.PodStatus{
		Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: "0/3 nodes are available: 2 Insufficient cpu."}},
	}}
	h, _ := newTestHosted(t, p)
	why, pending := h.Pending(context.Background(), "kindlab-wait")
	if !pending || !strings.Contains(why, "Insufficient cpu") {
		t.Errorf("Pending = %q, %v; want the scheduler's reason", why, pending)
	}
}

// TestHostedPodLimitsFollowTheBudget: without a memory limit of its own, a
// learner cluster pod's memory limit is the learner's budget and its engine's
// share, and so is the size of its engine's volume; it has no CPU limit (the
// node's quota, set inside the pod once the cluster is made, bounds the
// learner; the create is not slowed).
func TestHostedPodLimitsFollowTheBudget(t *testing.T) {
	h, err := NewHosted(HostedOptions{
		Config: &rest.Config{Host: "https://127.0.0.1:1"}, Image: "kindlab/dind:abc", KubeconfigDir: t.TempDir(),
		CPU: "500m", Memory: "1Gi", Budget: Budget{Memory: 3 << 30, CPUs: 1.5, Disk: 1536 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := h.pod("kindlab-ada").Spec.Containers[0].Resources.Limits
	if _, cpu := l[corev1.ResourceCPU]; l.Memory().String() != "3584Mi" || cpu {
		t.Errorf("limits %v; want 3584Mi (3Gi and the engine's 512Mi) and no CPU limit", l)
	}
	for _, v := range h.pod("kindlab-ada").Spec.Volumes {
		if v.Name == "docker" && (v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.String() != "5632Mi") {
			t.Errorf("the engine's volume %+v; want an emptyDir of 5632Mi (the 1.5Gi budget and the engine's 4Gi)", v)
		}
	}
}

// TestHostedCheckWaitsForANewNamespace: a namespace made a moment ago, whose
// default service account is not there yet, is waited for; the refusal that
// follows is the one that counts.
func TestHostedCheckWaitsForANewNamespace(t *testing.T) {
	h, cs := newTestHosted(t)
	tries := 0
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tries++
		if tries < 3 {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "kindlab-check",
				errors.New(`error looking up service account kindlab-clusters/default: serviceaccount "default" not found`))
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "kindlab-check",
			errors.New(`violates PodSecurity "baseline:latest": privileged`))
	})
	err := h.Check(context.Background())
	if tries != 3 || err == nil || !strings.Contains(err.Error(), "refuses privileged pods") {
		t.Errorf("after %d tries: %v; want the third, PodSecurity's refusal explained", tries, err)
	}
}
