//go:build e2e

package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kindlab/kindlab/cluster"
)

// TestE2EManifestsOnKubernetes installs kindlab on a host cluster (a kind
// cluster with two workers) from manifests/kindlab, step by step as its README
// says: kindlab's own image and PostgreSQL's from the bundle, the namespaces,
// the secret, then RBAC, PostgreSQL and the two replicas. kindlab's service
// account may do what the Role lists and nothing more. A learner in Chromium,
// reaching one replica through a port-forward as an Ingress would, starts a lab
// on a learner cluster the replicas made through the in-cluster API and turns
// step 1 green; that replica's pod is deleted at once (no grace), the learner
// carries on through the other with the terminal's history, the cluster the
// deleted replica's pool had made warm is deleted (the learner's stays), and
// the learner runs step 2's port-forward and opens its app link.
func TestE2EManifestsOnKubernetes(t *testing.T) {
	kc, host := newHostCluster(t) // with kindlab's own image (make platform-image)
	ctx := context.Background()
	kubectl := func(stdin string, args ...string) (string, error) { return hostKubectl(kc, stdin, args...) }
	manifest := func(name string) string {
		data, err := os.ReadFile(filepath.Join("..", "manifests", "kindlab", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	secret := func() string {
		b := make([]byte, 16)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	// The host cluster is the package's: when the test ends, what it installed
	// goes, and with it the learner clusters its replicas made, which would
	// take the CPU of the tests after it.
	t.Cleanup(func() {
		kubectl("", "-n", "kindlab", "delete", "deployment,statefulset", "--all", "--wait=false")
		kubectl("", "-n", hostNamespace, "delete", "pods", "--all", "--grace-period=0", "--force")
	})
	installed := time.Now()
	for _, step := range []struct {
		stdin string
		args  []string
	}{
		{manifest("namespaces.yaml"), []string{"apply", "-f", "-"}},
		{"", []string{"-n", "kindlab", "create", "secret", "generic", "kindlab",
			"--from-literal=postgres-password=" + secret(), "--from-literal=instructor-token=" + secret()}},
		{manifest("rbac.yaml") + "\n---\n" + manifest("postgres.yaml"), []string{"apply", "-f", "-"}},
		{"", []string{"-n", "kindlab", "rollout", "status", "statefulset/postgres", "--timeout=5m"}},
		{manifest("kindlab.yaml"), []string{"apply", "-f", "-"}},
		{"", []string{"-n", "kindlab", "rollout", "status", "deployment/kindlab", "--timeout=5m"}},
	} {
		if out, err := kubectl(step.stdin, step.args...); err != nil {
			logs, _ := kubectl("", "-n", "kindlab", "logs", "--all-containers", "--prefix", "-l", "app.kubernetes.io/name in (kindlab,postgres)", "--tail=40")
			pods, _ := kubectl("", "-n", "kindlab", "get", "pods,pvc", "-o", "wide")
			t.Fatalf("kubectl %v: %v\n%s\n%s\n%s", step.args, err, out, pods, logs)
		}
	}
	t.Logf("manifests applied, PostgreSQL and two kindlab replicas ready: %s", time.Since(installed).Round(100*time.Millisecond))

	// What kindlab's service account may do: the Role's verbs on pods in
	// kindlab-clusters, nothing else there, and nothing anywhere else.
	for _, c := range []struct {
		verb, resource, namespace string
		allowed                   bool
	}{
		{"create", "pods", "kindlab-clusters", true},
		{"delete", "pods", "kindlab-clusters", true},
		{"create", "pods/exec", "kindlab-clusters", true},
		{"create", "pods/portforward", "kindlab-clusters", true},
		{"get", "secrets", "kindlab-clusters", false},
		{"create", "services", "kindlab-clusters", false},
		{"update", "pods", "kindlab-clusters", false},
		{"create", "pods", "kindlab", false},
		{"get", "secrets", "kindlab", false},
		{"create", "pods/exec", "kindlab", false},
		{"create", "pods", "kube-system", false},
		{"list", "nodes", "", false},
		{"create", "rolebindings", "kindlab-clusters", false},
		{"create", "namespaces", "", false},
	} {
		args := []string{"auth", "can-i", "--as=system:serviceaccount:kindlab:kindlab", c.verb, c.resource}
		if c.namespace != "" {
			args = append(args, "-n", c.namespace)
		}
		out, _ := kubectl("", args...) // can-i exits 1 for "no"
		if got := strings.TrimSpace(out) == "yes"; got != c.allowed {
			t.Errorf("kindlab's service account may %s %s in %q: %v (%s); want %v", c.verb, c.resource, c.namespace, got, strings.TrimSpace(out), c.allowed)
		}
	}

	// The learner reaches one replica as an Ingress would lead them to it.
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	list, err := host.CoreV1().Pods("kindlab").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=kindlab"})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("kindlab's pods: %v, %v; want two", list, err)
	}
	a, b := list.Items[0].Name, list.Items[1].Name
	var mu sync.Mutex
	target := forwardPod(t, cfg, "kindlab", a, 8080)
	front := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		mu.Lock()
		pr.SetURL(&url.URL{Scheme: "http", Host: target})
		mu.Unlock()
		pr.Out.Host = pr.In.Host
	}, FlushInterval: -1})
	defer front.Close()
	if err := waitWarmAt(front.URL, 1, 10*time.Minute); err != nil {
		out, _ := kubectl("", "-n", "kindlab-clusters", "get", "pods", "-o", "wide")
		logs, _ := kubectl("", "-n", "kindlab", "logs", a, "--tail=60")
		t.Fatalf("replica %s's pool: %v\n%s\n%s", a, err, out, logs)
	}
	t.Logf("manifests applied to a warm learner cluster at replica %s: %s", a, time.Since(installed).Round(100*time.Millisecond))

	// kindlab serves only the names the manifests give it (--host), 0.0.0.0
	// as it listens on.
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "rebound.example.org"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a request for another host name: %v, %v; want 421", resp, err)
	} else {
		resp.Body.Close()
	}
	platformRules(t, host)

	bctx, cancel := newBrowser(t)
	defer cancel()
	bctx, tcancel := context.WithTimeout(bctx, 10*time.Minute)
	defer tcancel()
	terminal := func() string { return termText(bctx) }
	clicked := time.Now()
	startLabAt(t, bctx, front.URL, 2*time.Minute)
	t.Logf("start click to an interactive terminal, kindlab on the host cluster: %s", time.Since(clicked).Round(time.Millisecond))
	output := leaveOutput(t, bctx)
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, checkStatus("homepage-ready")+` === "pass"`, 3*time.Minute); err != nil {
		t.Fatalf("step 1: %v\n%s", err, terminal())
	}

	// Replica a's pool makes a warm cluster in the place of the learner's.
	tagged := func() []string { // a's, oldest first
		pods := learnerPods(t, host, hostNamespace)
		slices.SortFunc(pods, func(x, y corev1.Pod) int { return x.CreationTimestamp.Compare(y.CreationTimestamp.Time) })
		var out []string
		for _, p := range pods {
			if cluster.PoolMaker(p.Name) == cluster.PoolTag(a) {
				out = append(out, p.Name)
			}
		}
		return out
	}
	for deadline := time.Now().Add(3 * time.Minute); len(tagged()) < 2; time.Sleep(2 * time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("replica %s's pool made no cluster after the learner's: %v", a, learnerPods(t, host, hostNamespace))
		}
	}
	learners := tagged()[0]

	// Replica a's pod is deleted without grace; the address leads to b.
	zero := int64(0)
	killed := time.Now()
	if err := host.CoreV1().Pods("kindlab").Delete(ctx, a, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // what b did with the learner it took over, should any later step fail
		if t.Failed() {
			logs, _ := kubectl("", "-n", "kindlab", "logs", b, "--tail=80")
			t.Logf("replica %s's log:\n%s", b, logs)
		}
	})
	other := forwardPod(t, cfg, "kindlab", b, 8080)
	mu.Lock()
	target = other
	mu.Unlock()
	if err := waitNewShell(bctx); err != nil {
		logs, _ := kubectl("", "-n", "kindlab", "logs", b, "--tail=60")
		t.Fatalf("the open page's terminal after %s was deleted: %v\n%s\n%s", a, err, terminal(), logs)
	}
	t.Logf("replica %s deleted to the learner's terminal back through %s: %s", a, b, time.Since(killed).Round(100*time.Millisecond))
	newShellKept(t, bctx, output)

	// The cluster a's pool left warm is deleted once a's lease runs out; the
	// learner's stays.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		left := tagged()
		if len(left) == 1 && left[0] == learners {
			t.Logf("replica %s deleted to the cluster its pool left warm deleted: %s", a, time.Since(killed).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s's clusters 2 minutes after it was deleted: %v; want only the learner's, %s", a, left, learners)
		}
	}

	// Step 2 through b: the learner's port-forward and the app link.
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="next-step"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, onStep(2)+` && window.kindlab.connected`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, checkStatus("port-forwarded")+` === "pass"`, 2*time.Minute); err != nil {
		t.Fatalf("step 2 through %s: %v\n%s", b, err, terminal())
	}
	href, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid="app-link-homepage"]`), "href"))
	if err != nil {
		t.Fatalf("no app link on step 2: %v", err)
	}
	body, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => r.text())`, href.Value), chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(body, "Sign up") {
		t.Errorf("app link %s through %s answered %q, %v; want the homepage", href.Value, b, firstLine(body), err)
	}
}

// hostKubectl runs kubectl as the admin of the host cluster whose kubeconfig
// is kc, on its control-plane node, with stdin; it returns what kubectl said.
func hostKubectl(kc, stdin string, args ...string) (string, error) {
	node := strings.TrimSuffix(filepath.Base(kc), ".kubeconfig") + "-control-plane"
	cmd := exec.Command("docker", append([]string{"exec", "-i", node, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// forwardPod forwards a port on 127.0.0.1 to port remote of a pod through the
// host cluster's API, for the test's life, and returns the local address.
func forwardPod(t testing.TB, cfg *rest.Config, namespace, pod string, remote int) string {
	t.Helper()
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/portforward", namespace, pod)
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(remote)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	t.Cleanup(func() { close(stop) })
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward to %s/%s: %v", namespace, pod, err)
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
}

// platformRules checks, on the host cluster the manifests were applied to,
// what keeps kindlab's own pods apart from learners: every NetworkPolicy
// selects the pods it is meant for (a selector that matches nothing protects
// nothing; the stand-in host cluster's network plugin does not enforce them,
// so their effect is not tried here), and no learner cluster pod shares a node
// with kindlab's or PostgreSQL's.
func platformRules(t *testing.T, host kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	pods := func(ns string, sel *metav1.LabelSelector) []string {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatal(err)
		}
		list, err := host.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range list.Items {
			first, _, _ := strings.Cut(p.Name, "-") // kindlab-…, postgres-0
			names = append(names, first)
		}
		slices.Sort(names)
		return names
	}
	for _, want := range []struct {
		namespace, name string
		selects         string // the pods the policy applies to, by name's first word; "*" every pod
		from            string // the pods its one rule admits, by namespace or first word; "" for none
		port            int32
		egress          bool // denies traffic out, too
	}{
		{"kindlab", "deny-by-default", "kindlab kindlab postgres", "", 0, false},
		{"kindlab", "kindlab-from-ingress", "kindlab kindlab", "namespace ingress-nginx, kindlab kindlab", 8080, false},
		{"kindlab", "postgres-from-kindlab", "postgres", "kindlab kindlab", 5432, false},
		{hostNamespace, "isolate-learner-clusters", "*", "", 0, true},
	} {
		np, err := host.NetworkingV1().NetworkPolicies(want.namespace).Get(ctx, want.name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("NetworkPolicy %s/%s: %v", want.namespace, want.name, err)
			continue
		}
		everyPod := len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0
		if want.selects == "*" {
			if !everyPod {
				t.Errorf("NetworkPolicy %s/%s selects %v; want every pod", want.namespace, want.name, np.Spec.PodSelector)
			}
		} else if got := strings.Join(pods(want.namespace, &np.Spec.PodSelector), " "); got != want.selects {
			t.Errorf("NetworkPolicy %s/%s selects %q; want %q", want.namespace, want.name, got, want.selects)
		}
		var from []string
		var ports []int32
		for _, rule := range np.Spec.Ingress {
			for _, peer := range rule.From {
				switch {
				case peer.NamespaceSelector != nil:
					from = append(from, "namespace "+peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
				case peer.PodSelector != nil:
					from = append(from, strings.Join(pods(want.namespace, peer.PodSelector), " "))
				}
			}
			for _, p := range rule.Ports {
				ports = append(ports, p.Port.IntVal)
			}
		}
		if got := strings.Join(from, ", "); got != want.from || want.port != 0 && !slices.Equal(ports, []int32{want.port}) {
			t.Errorf("NetworkPolicy %s/%s admits %q on ports %v; want %q on %d", want.namespace, want.name, got, ports, want.from, want.port)
		}
		if egress := slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) && len(np.Spec.Egress) == 0; egress != want.egress {
			t.Errorf("NetworkPolicy %s/%s denies all traffic out: %v; want %v", want.namespace, want.name, egress, want.egress)
		}
	}

	platform := map[string]string{} // node → a platform pod on it
	list, err := host.CoreV1().Pods("kindlab").List(ctx, metav1.ListOptions{LabelSelector: cluster.PlatformLabel + "=kindlab"})
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("kindlab's own pods: %v, %v; want three (two replicas, PostgreSQL)", list, err)
	}
	for _, p := range list.Items {
		platform[p.Spec.NodeName] = p.Name
	}
	for _, p := range learnerPods(t, host, hostNamespace) {
		if other, ok := platform[p.Spec.NodeName]; ok && p.Spec.NodeName != "" {
			t.Errorf("learner cluster pod %s runs on node %s beside %s", p.Name, p.Spec.NodeName, other)
		}
	}
	t.Logf("kindlab's pods on %v; learner cluster pods elsewhere", slices.Collect(maps.Keys(platform)))
}
