//go:build e2e

package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/internal/podstatus"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/workstation"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/images"
	"github.com/kindlab/kindlab/labs/check"
)

// testImages returns the image set the source tree builds; make test builds it first.
func testImages(t testing.TB) images.Set {
	t.Helper()
	wd, _ := os.Getwd()
	src, err := images.FindSource(wd)
	if err != nil {
		t.Fatal(err)
	}
	b := &images.Builder{Src: src, Cache: filepath.Join(os.TempDir(), "kindlab-plan"), Run: images.ExecRunner{}}
	set, err := b.Plan(context.Background())
	if err != nil {
		t.Fatalf("plan images: %v", err)
	}
	if exec.Command("docker", "image", "inspect", set.Node).Run() != nil {
		t.Fatalf("node image %s is not built: run make images (make test does)", set.Node)
	}
	return set
}

func newManager(t testing.TB, set images.Set) *cluster.Manager {
	t.Helper()
	m, err := cluster.New(cluster.Options{NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: t.TempDir(), MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Clusters a test leaves in a known state go to the next test that does not
// need a fresh one, rather than being deleted and made again:
//   - TestE2ELearnerCannotEscape's cluster (prepared, the learner refused
//     everything) becomes cluster A of TestE2EClustersCannotSeeEachOther,
//     whose probe needs only a working cluster of its own;
//   - that test's cluster B becomes the cluster TestE2EDeleteThawsFrozenNode
//     freezes a cgroup in and deletes.
//
// A test that failed passes nothing on: what it left is not known. Each taker
// makes a cluster of its own when nothing was passed (run alone, say); what
// nobody took is deleted when the package's tests end.
var handed handOver

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kindlab-cluster-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	handed.dir = dir
	code := m.Run()
	handed.close()
	os.RemoveAll(dir)
	os.Exit(code)
}

type handOver struct {
	dir string // the kubeconfigs of the clusters handed on

	mu    sync.Mutex
	m     *cluster.Manager
	ready []string // clusters passed on, not yet taken
}

// manager is the package's manager of the clusters that pass between tests.
func (h *handOver) manager(t testing.TB, set images.Set) *cluster.Manager {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		m, err := cluster.New(cluster.Options{NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: h.dir, MaxConcurrent: 2})
		if err != nil {
			t.Fatal(err)
		}
		h.m = m
	}
	return h.m
}

// take returns a cluster an earlier test passed on, or creates one named
// after prefix.
func (h *handOver) take(t testing.TB, ctx context.Context, set images.Set, prefix string) *cluster.Cluster {
	t.Helper()
	m := h.manager(t, set)
	h.mu.Lock()
	var name string
	if len(h.ready) > 0 {
		name, h.ready = h.ready[0], h.ready[1:]
	}
	h.mu.Unlock()
	if name != "" {
		if c, err := m.Get(ctx, name); err == nil {
			t.Logf("cluster %s, passed on by an earlier test", name)
			return c
		}
	}
	c, err := m.Create(ctx, randomName(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pass gives a cluster of the package's manager to the next taker when the
// test ends, or deletes it if the test failed.
func (h *handOver) pass(t testing.TB, name string) {
	t.Cleanup(func() {
		if t.Failed() {
			h.m.Delete(context.Background(), name)
			return
		}
		h.mu.Lock()
		h.ready = append(h.ready, name)
		h.mu.Unlock()
	})
}

func (h *handOver) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.ready {
		h.m.Delete(context.Background(), n)
	}
}

func randomName(prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// TestE2EClusterNetworking creates a learner cluster from the built node image and
// proves from inside it what the labs teach, then deletes it and checks nothing is left.
func TestE2EClusterNetworking(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	set := testImages(t)
	m := newManager(t, set)
	name := randomName("e2e")

	c, err := m.Create(ctx, name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			m.Delete(context.Background(), name)
		}
	})

	if _, err := m.Create(ctx, name); !errors.Is(err, cluster.ErrExists) {
		t.Errorf("Create(%q) again = %v; want ErrExists", name, err)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Host, "https://127.0.0.1:") {
		t.Errorf("API server at %s; want it on 127.0.0.1", cfg.Host)
	}
	conn, err := workstation.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, execer := conn.Client, conn
	ns := "default"

	// The lighter control plane: one CoreDNS, no leader election leases.
	if d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{}); err != nil || d.Status.ReadyReplicas != 1 || *d.Spec.Replicas != 1 {
		t.Errorf("CoreDNS: %v; want one replica, ready", err)
	}
	for _, lease := range []string{"kube-controller-manager", "kube-scheduler"} {
		if _, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, lease, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("lease %s: %v; want none (no leader election)", lease, err)
		}
	}

	labels := map[string]string{"app": "signup", "component": "homepage"}
	mustCreate(t, ctx, cs, deployment("homepage", labels, "kindlab/homepage:lab", nil))
	mustCreate(t, ctx, cs, deployment("sleep", map[string]string{"app": "sleep"}, "kindlab/toolbox:lab", []string{"sleep", "infinity"}))
	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "homepage"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "homepage-np"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80), NodePort: cluster.NodePort}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	homepagePod := waitReadyPod(t, ctx, cs, "app=signup,component=homepage", "")
	sleepPod := waitReadyPod(t, ctx, cs, "app=sleep", "")

	t.Run("NodePort answers on 127.0.0.1", func(t *testing.T) {
		url := fmt.Sprintf("http://127.0.0.1:%d/", c.NodePort)
		var body string
		client := &http.Client{Timeout: 5 * time.Second}
		var last error
		err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			resp, err := client.Get(url)
			last = err
			if err != nil {
				return false, nil
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			body = string(data)
			return resp.StatusCode == 200 && strings.Contains(body, "Sign up"), nil
		})
		if err != nil {
			t.Errorf("GET %s: %v (last error %v, last body %q)", url, err, last, firstLine(body))
		}
	})
	t.Run("nslookup answers with the ClusterIP", func(t *testing.T) {
		out := execOK(t, ctx, execer, sleepPod.Name, "nslookup homepage")
		if !strings.Contains(out, svc.Spec.ClusterIP) {
			t.Errorf("nslookup homepage = %q; want ClusterIP %s", out, svc.Spec.ClusterIP)
		}
	})
	t.Run("dns checks: answers, records and names that do not resolve", func(t *testing.T) {
		_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "homepage-pods"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels,
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		one, two, no := 1, 2, false
		dns := func(d labs.DNSCheck) labs.Check {
			d.From = "deploy/sleep"
			return labs.Check{ID: "dns", Kind: labs.KindDNS, DNS: &d}
		}
		tests := []struct {
			name  string
			check labs.Check
			want  check.Status
		}{
			{"the ClusterIP, one record", dns(labs.DNSCheck{Name: "homepage", Service: "homepage", Records: &one}), check.Pass},
			{"a headless Service answers the ready pod", dns(labs.DNSCheck{Name: "homepage-pods", Service: "homepage-pods", Answers: labs.AnswersReadyPods, Records: &one}), check.Pass},
			{"two records expected, one there", dns(labs.DNSCheck{Name: "homepage-pods", Service: "homepage-pods", Records: &two, Answers: labs.AnswersReadyPods}), check.Fail},
			{"the ClusterIP of a headless Service", dns(labs.DNSCheck{Name: "homepage-pods", Service: "homepage-pods"}), check.Fail},
			{"a name that does not resolve", dns(labs.DNSCheck{Name: "no-such-service", Resolves: &no}), check.Pass},
			{"a name that resolves, expected not to", dns(labs.DNSCheck{Name: "homepage", Resolves: &no}), check.Fail},
		}
		engine := platform.Checks(conn)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var r check.Result
				// A new Service's records take a moment to reach CoreDNS.
				wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(ctx context.Context) (bool, error) {
					r = engine.Evaluate(ctx, check.StepState{Namespace: ns}, tt.check)
					return r.Status == tt.want, nil
				})
				if r.Status != tt.want {
					t.Errorf("%s: %s; want %s", r.Status, r.Message, tt.want)
				}
			})
		}
	})
	t.Run("curl through the Service reaches the homepage", func(t *testing.T) {
		out := execOK(t, ctx, execer, sleepPod.Name, "curl -s --max-time 10 http://homepage")
		if !strings.Contains(out, "served by "+homepagePod.Name) {
			t.Errorf("curl http://homepage = %q; want the page served by %s", firstLine(out), homepagePod.Name)
		}
	})
	t.Run("endpoints follow a replaced pod", func(t *testing.T) {
		waitEndpoints(t, ctx, cs, []string{homepagePod.Status.PodIP})
		if err := cs.CoreV1().Pods(ns).Delete(ctx, homepagePod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		replacement := waitReadyPod(t, ctx, cs, "app=signup,component=homepage", homepagePod.Name)
		if replacement.Status.PodIP == homepagePod.Status.PodIP {
			t.Logf("replacement reused IP %s", replacement.Status.PodIP)
		}
		waitEndpoints(t, ctx, cs, []string{replacement.Status.PodIP})
	})

	kubeconfig := c.Kubeconfig
	if err := m.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	deleted = true
	assertGone(t, c.Name, kubeconfig)
}

// TestE2ECreateCancelled: a cancelled create leaves nothing behind.
func TestE2ECreateCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	set := testImages(t)
	m := newManager(t, set)

	name := randomName("cancel")
	cctx, ccancel := context.WithTimeout(ctx, 8*time.Second)
	_, err := m.Create(cctx, name)
	ccancel()
	if err == nil {
		m.Delete(ctx, name)
		t.Fatal("Create with an 8s deadline succeeded; want it cancelled")
	}
	full, _ := cluster.FullName(name)
	assertGone(t, full, "")

	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(list, full) {
		t.Errorf("List() = %v after a cancelled create; want %s gone", list, full)
	}
}

func assertGone(t *testing.T, full, kubeconfig string) {
	t.Helper()
	out, _ := exec.Command("docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+full, "--format", "{{.Names}}").Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("containers left behind: %s", s)
	}
	if out, _ := exec.Command("docker", "network", "ls", "--filter", "name=^"+full+"$", "--format", "{{.Name}}").Output(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("the cluster's docker network %s left behind", full)
	}
	if kubeconfig != "" {
		if _, err := os.Stat(kubeconfig); err == nil {
			t.Errorf("kubeconfig %s left behind", kubeconfig)
		}
	}
	home, _ := os.UserHomeDir()
	if data, err := os.ReadFile(filepath.Join(home, ".kube", "config")); err == nil && bytes.Contains(data, []byte(full)) {
		t.Errorf("~/.kube/config mentions %s; kindlab must not touch it", full)
	}
}

func deployment(name string, labels map[string]string, image string, command []string) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: name, Image: image, ImagePullPolicy: corev1.PullNever, Command: command,
				}}},
			},
		},
	}
}

func mustCreate(t *testing.T, ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) {
	t.Helper()
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", d.Name, err)
	}
}

// waitReadyPod waits for a ready, running pod matching selector other than notName.
func waitReadyPod(t *testing.T, ctx context.Context, cs kubernetes.Interface, selector, notName string) corev1.Pod {
	t.Helper()
	var found corev1.Pod
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, p := range pods.Items {
			last = fmt.Sprintf("%s phase %s", p.Name, p.Status.Phase)
			if p.Name == notName || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				continue
			}
			if podstatus.Ready(&p) {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no ready pod for %s: %v (last seen: %s)", selector, err, last)
	}
	return found
}

func waitEndpoints(t *testing.T, ctx context.Context, cs kubernetes.Interface, want []string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=homepage"})
		if err != nil {
			return false, nil
		}
		got = nil
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
					got = append(got, ep.Addresses...)
				}
			}
		}
		return strings.Join(got, ",") == strings.Join(want, ","), nil
	})
	if err != nil {
		t.Errorf("ready endpoints of homepage = %v; want %v", got, want)
	}
}

func execOK(t *testing.T, ctx context.Context, e check.Execer, pod, command string) string {
	t.Helper()
	stdout, stderr, code, err := e.Exec(ctx, "default", pod, "", []string{"sh", "-c", command})
	if err != nil || code != 0 {
		t.Fatalf("exec %q in %s: exit %d, %v; stderr %q", command, pod, code, err, stderr)
	}
	return stdout
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestE2ELearnerCannotEscape proves design.md's security model on a real cluster:
// acting as the learner's ServiceAccount, the lab work is allowed, and everything
// that could reach the host (kind nodes are privileged containers) is refused.
func TestE2ELearnerCannotEscape(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	set := testImages(t)
	c, err := handed.manager(t, set).Create(ctx, randomName("sec"))
	if err != nil {
		t.Fatal(err)
	}
	handed.pass(t, c.Name)
	admin, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	src, _ := images.FindSource(wd)
	conn, err := workstation.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := platform.Prepare(ctx, conn, os.DirFS(filepath.Join(src, "manifests", "platform")), nil); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := conn.CopyFiles(ctx, map[string][]byte{"hello.txt": []byte("hi")}); err != nil {
		t.Fatalf("CopyFiles: %v", err)
	}
	learnerCfg := rest.CopyConfig(admin)
	learnerCfg.Impersonate = rest.ImpersonationConfig{UserName: platform.LearnerUser}
	learner := kubernetes.NewForConfigOrDie(learnerCfg)

	pod := func(ns, name string, mutate func(*corev1.PodSpec)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kindlab/toolbox:lab", ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "infinity"}}}}}
		if mutate != nil {
			mutate(&p.Spec)
		}
		return p
	}
	privileged := func(s *corev1.PodSpec) {
		yes := true
		s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
	}
	hostPath := func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "root", MountPath: "/host"}}
	}
	hostNet := func(s *corev1.PodSpec) { s.HostNetwork = true }

	if _, err := learner.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "front"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("learner cannot create a lab namespace: %v", err)
	}
	tests := []struct {
		name  string
		do    func() error
		allow bool
	}{
		{name: "plain pod in default", allow: true, do: func() error {
			_, err := learner.CoreV1().Pods("default").Create(ctx, pod("default", "ok", nil), metav1.CreateOptions{})
			return err
		}},
		{name: "privileged pod in default", do: func() error {
			_, err := learner.CoreV1().Pods("default").Create(ctx, pod("default", "priv", privileged), metav1.CreateOptions{})
			return err
		}},
		{name: "hostPath pod in a namespace the learner made", do: func() error {
			_, err := learner.CoreV1().Pods("front").Create(ctx, pod("front", "hp", hostPath), metav1.CreateOptions{})
			return err
		}},
		{name: "hostNetwork pod", do: func() error {
			_, err := learner.CoreV1().Pods("default").Create(ctx, pod("default", "hn", hostNet), metav1.CreateOptions{})
			return err
		}},
		{name: "pod in kube-system (exempt from PodSecurity)", do: func() error {
			_, err := learner.CoreV1().Pods("kube-system").Create(ctx, pod("kube-system", "ks", privileged), metav1.CreateOptions{})
			return err
		}},
		{name: "namespace labelled privileged", do: func() error {
			_, err := learner.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "evil",
				Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}}, metav1.CreateOptions{})
			return err
		}},
		{name: "relabel a namespace", do: func() error {
			_, err := learner.CoreV1().Namespaces().Patch(ctx, "front", types.MergePatchType,
				[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`), metav1.PatchOptions{})
			return err
		}},
		{name: "make themselves cluster-admin", do: func() error {
			_, err := learner.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "me"},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "learner", Namespace: "kindlab"}}}, metav1.CreateOptions{})
			return err
		}},
		{name: "delete their own workstation", do: func() error {
			return learner.CoreV1().Pods(workstation.Namespace).Delete(ctx, workstation.Pod, metav1.DeleteOptions{})
		}},
		{name: "read secrets", do: func() error {
			_, err := learner.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.allow && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tt.allow && err == nil {
				t.Errorf("allowed; the learner must not be able to do this")
			}
			if !tt.allow && err != nil && !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
				t.Errorf("refused with %v; want Forbidden", err)
			}
		})
	}
	// The lab file reached the workstation's home folder, and the shell there is the
	// learner, not root.
	stdout, _, code, err := conn.Exec(ctx, workstation.Namespace, workstation.Pod, workstation.Container, []string{"sh", "-c", "cat ~/hello.txt; id -u"})
	if err != nil || code != 0 || stdout != "hi1000\n" {
		t.Errorf("workstation: %q, exit %d, %v; want the lab file and uid 1000", stdout, code, err)
	}
}

// TestE2EClustersCannotSeeEachOther starts two learner clusters and checks that
// neither a pod nor the node of one reaches any port of the other's node, while
// both still reach their own (so the probe itself works).
func TestE2EClustersCannotSeeEachOther(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	set := testImages(t)
	m := handed.manager(t, set)
	var names []string
	for _, prefix := range []string{"iso-a", "iso-b"} {
		c := handed.take(t, ctx, set, prefix)
		names = append(names, c.Name)
		if prefix == "iso-a" {
			defer m.Delete(context.Background(), c.Name)
		} else {
			handed.pass(t, c.Name)
		}
	}
	nodeIP := func(cluster string) string {
		out, err := exec.Command("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cluster+"-control-plane").Output()
		if err != nil {
			t.Fatal(err)
		}
		ips := strings.Fields(string(out))
		if len(ips) != 1 {
			t.Fatalf("node of %s is on %d networks (%v); want its own only", cluster, len(ips), ips)
		}
		return ips[0]
	}
	a, b := names[0], names[1]
	ipA, ipB := nodeIP(a), nodeIP(b)
	c, err := m.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := conn.Client
	mustCreate(t, ctx, cs, deployment("probe", map[string]string{"app": "probe"}, "kindlab/toolbox:lab", []string{"sleep", "infinity"}))
	pod := waitReadyPod(t, ctx, cs, "app=probe", "")
	e := conn
	tcp := func(ip string, port int) string {
		return fmt.Sprintf("timeout 5 bash -c '</dev/tcp/%s/%d' 2>/dev/null", ip, port)
	}

	// The probe works: A's pod reaches A's own node.
	execOK(t, ctx, e, pod.Name, tcp(ipA, 6443))
	for _, port := range []int{6443, 10250, cluster.NodePort} {
		t.Run(fmt.Sprintf("pod of A to B:%d", port), func(t *testing.T) {
			if _, _, code, err := e.Exec(ctx, "default", pod.Name, "", []string{"sh", "-c", tcp(ipB, port)}); err == nil && code == 0 {
				t.Errorf("a pod of %s connected to %s:%d, the node of %s", a, ipB, port, b)
			}
		})
		t.Run(fmt.Sprintf("node of A to B:%d", port), func(t *testing.T) {
			if exec.Command("docker", "exec", a+"-control-plane", "bash", "-c", tcp(ipB, port)).Run() == nil {
				t.Errorf("the node of %s connected to %s:%d, the node of %s", a, ipB, port, b)
			}
		})
	}
}

// TestE2ENetworkLeftAlone: a create killed between making the cluster's Docker
// network and its node (kindlab SIGKILLed) leaves the network alone; List
// names it, so the orphan sweep at the next start deletes it, and Delete
// removes it.
func TestE2ENetworkLeftAlone(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, testImages(t))
	full, _ := cluster.FullName(randomName("netonly"))
	if out, err := exec.Command("docker", "network", "create", "--label", "org.kindlab.cluster="+full, full).CombinedOutput(); err != nil {
		t.Fatalf("docker network create: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "network", "rm", full).Run() })
	if list, err := m.List(ctx); err != nil || !slices.Contains(list, full) {
		t.Fatalf("List() = %v, %v; want the network-only %s in it", list, err, full)
	}
	if err := m.Delete(ctx, full); err != nil {
		t.Fatalf("Delete(%s) = %v; want the network removed", full, err)
	}
	if out, _ := exec.Command("docker", "network", "ls", "-q", "--filter", "name=^"+full+"$").Output(); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("network %s is still there after Delete", full)
	}
	if list, _ := m.List(ctx); slices.Contains(list, full) {
		t.Errorf("List() = %v after Delete; want %s gone", list, full)
	}
}

// A node whose container cgroup is left frozen inside it (runc freezes a
// container's cgroup while it sets it up; a node killed at that moment keeps
// it so) holds processes even SIGKILL does not end, and Docker cannot remove
// it ("did not receive an exit event"). Delete thaws them and removes the
// cluster.
func TestE2EDeleteThawsFrozenNode(t *testing.T) {
	ctx := context.Background()
	set := testImages(t)
	m := handed.manager(t, set)
	c := handed.take(t, ctx, set, "frozen")
	name, full := c.Name, c.Name
	t.Cleanup(func() { m.Delete(ctx, name) })
	// cgroup v1 (this host) or v2: a process in a frozen cgroup under the kubelet's.
	// The kernel may report FREEZING for a while on a busy host: the state is
	// read until it is FROZEN (or 10 s have passed).
	freeze := `if [ -d /sys/fs/cgroup/freezer ]; then
  d=/sys/fs/cgroup/freezer/kubelet/kindlab-frozen; mkdir -p $d; (sleep 600 & echo $! >$d/tasks); echo FROZEN >$d/freezer.state
  for i in $(seq 50); do [ "$(cat $d/freezer.state)" = FROZEN ] && break; sleep 0.2; done; cat $d/freezer.state
else
  d=/sys/fs/cgroup/kindlab-frozen; mkdir -p $d; (sleep 600 & echo $! >$d/cgroup.procs); echo 1 >$d/cgroup.freeze
  for i in $(seq 50); do grep -q 'frozen 1' $d/cgroup.events && break; sleep 0.2; done; cat $d/cgroup.events
fi`
	out, err := exec.Command("docker", "exec", full+"-control-plane", "sh", "-c", freeze).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "FROZEN") && !strings.Contains(string(out), "frozen 1") {
		t.Fatalf("freeze a cgroup in the node: %v: %s", err, out)
	}
	if err := m.Delete(ctx, name); err != nil {
		t.Fatalf("Delete of a node with a frozen cgroup = %v; want it deleted", err)
	}
	assertGone(t, full, c.Kubeconfig)
}
