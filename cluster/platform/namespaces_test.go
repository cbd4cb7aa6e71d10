package platform

import (
	"context"
	"io/fs"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/workstation"
)

func testLimits(t *testing.T) NamespaceLimits {
	t.Helper()
	platform, err := fs.Sub(manifests.FS(), "platform")
	if err != nil {
		t.Fatal(err)
	}
	nl, err := LoadNamespaceLimits(platform)
	if err != nil {
		t.Fatalf("LoadNamespaceLimits: %v", err)
	}
	return nl
}

func TestNamespaceLimitsFromManifests(t *testing.T) {
	nl := testLimits(t)
	if got := nl.Quota.Spec.Hard[corev1.ResourcePods]; got.Value() < 10 {
		t.Errorf("quota pods = %v; want room for the labs (>= 10)", got.String())
	}
	if got := nl.Quota.Spec.Hard[corev1.ResourcePersistentVolumeClaims]; got.Value() != 0 {
		t.Errorf("quota persistentvolumeclaims = %v; want 0 (no lab needs storage)", got.String())
	}
	if len(nl.Limits.Spec.Limits) == 0 || nl.Limits.Spec.Limits[0].Default.Memory().IsZero() {
		t.Errorf("limit range has no default memory limit: %+v", nl.Limits.Spec)
	}
}

func TestNamespaceGuard(t *testing.T) {
	nl := testLimits(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workstation.Namespace}},
	)
	if err := nl.Guard(ctx, cs, nil); err != nil {
		t.Fatalf("Guard: %v", err)
	}
	has := func(ns string) bool {
		_, qerr := cs.CoreV1().ResourceQuotas(ns).Get(ctx, nl.Quota.Name, metav1.GetOptions{})
		_, lerr := cs.CoreV1().LimitRanges(ns).Get(ctx, nl.Limits.Name, metav1.GetOptions{})
		return qerr == nil && lerr == nil
	}
	if !has("default") {
		t.Error("default has no quota and limit range once Guard returns")
	}
	for _, ns := range []string{"kube-system", workstation.Namespace} {
		if has(ns) {
			t.Errorf("platform namespace %s got the learner's quota", ns)
		}
	}
	// A namespace the learner makes afterwards gets them too.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "front"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !has("front") {
		if time.Now().After(deadline) {
			t.Fatal("namespace front has no quota and limit range 5s after it was made")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNamespaceGuardCountsTheLearnersNamespaces: the guard keeps the count the
// admission guard reads in kindlab-budget (the platform's namespaces and
// default do not count), and deletes the newest namespaces past the limit
// that a burst of creates got past the admission guard with.
func TestNamespaceGuardCountsTheLearnersNamespaces(t *testing.T) {
	nl := testLimits(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	at := func(min int) metav1.Time {
		return metav1.NewTime(time.Unix(0, 0).Add(time.Duration(min) * time.Minute))
	}
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workstation.Namespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "front", CreationTimestamp: at(1)}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: BudgetConfigMap, Namespace: workstation.Namespace},
			Data: map[string]string{"maxNamespaces": "3", "namespaces": "0"}},
	)
	if err := nl.Guard(ctx, cs, nil); err != nil {
		t.Fatalf("Guard: %v", err)
	}
	count := func() string {
		cm, err := cs.CoreV1().ConfigMaps(workstation.Namespace).Get(ctx, BudgetConfigMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["namespaces"]
	}
	waitCount := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); count() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the learner's namespace count is %s; want %s", count(), want)
			}
		}
	}
	waitCount("1")
	for i, name := range []string{"back", "db", "extra1", "extra2"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(2 + i)}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Five of the learner's own, the limit three: the two newest go.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		list, _ := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		var names []string
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
		if len(names) == 6 && !slices.Contains(names, "extra1") && !slices.Contains(names, "extra2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespaces %v; want the two newest past the limit of 3 deleted", names)
		}
	}
	waitCount("3")
}
