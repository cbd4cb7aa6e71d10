//go:build e2e

package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kindlab/kindlab/internal/podstatus"
	"github.com/kindlab/kindlab/server/store"
	"github.com/kindlab/kindlab/server/store/storetest"
)

// hostNamespace is where learner cluster pods run on the host cluster unless
// told otherwise (kindlab's --host-namespace, manifests/kindlab).
const hostNamespace = "kindlab-clusters"

// newHostCluster returns the package's host cluster (shared.hostCluster): its
// kubeconfig path and a client.
func newHostCluster(t testing.TB) (string, kubernetes.Interface) {
	t.Helper()
	h := shared.hostCluster(t)
	return h.kubeconfig, h.client
}

// ownHostNamespace makes a namespace of the test's own on the host cluster,
// labelled for privileged pods, for its learners' cluster pods. The test's end
// deletes it, and waits until its pods are gone: they hold room on the host
// cluster's workers that the next test counts on.
func ownHostNamespace(t testing.TB, host kubernetes.Interface, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := host.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServiceAccount(t, host, name)
	t.Cleanup(func() {
		now := int64(0)
		host.CoreV1().Pods(name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &now}, metav1.ListOptions{})
		host.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
			if _, err := host.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err != nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("namespace %s of the host cluster is still there 3 minutes after its delete", name)
				return
			}
		}
	})
	return name
}

// waitServiceAccount waits for the default service account of namespace ns,
// which the host cluster's controller manager makes: until then every pod
// there is refused, and a controller manager whose lease ran out while the
// host cluster was paused (fixtures_e2e_test.go) takes a while to start again.
func waitServiceAccount(t testing.TB, host kubernetes.Interface, ns string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		_, err := host.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s of the host cluster has no default service account 3 minutes after it was made: %v", ns, err)
		}
	}
}

// learnerPods lists the learner cluster pods in namespace ns of the host cluster.
func learnerPods(t testing.TB, host kubernetes.Interface, ns string) []corev1.Pod {
	t.Helper()
	list, err := host.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=kindlab"})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestE2EHostedCluster runs learner clusters on a host Kubernetes cluster (a
// kind cluster with two workers, its images imported from a bundle): a
// namespace that refuses privileged pods stops kindlab at start with the rule
// and the fix; two kindlab replicas on one PostgreSQL run their learners'
// clusters in pods there, the two warm ones on different workers; a learner in
// Chromium starts a lab, turns step 1 green, runs step 2's port-forward and
// opens its app link; with no room left on the host cluster the next learner
// waits in the queue with their place; the learner opens step 3, replica a is
// killed with SIGKILL, and the learner carries on through replica b with the
// terminal's history and turns step 3 green; the other learner leaves, and
// the learner clicks "Reset my cluster" and gets a fresh cluster on the host
// cluster, the old one's pod deleted. Then kindlab validate runs a lab
// on the host cluster. (TestE2EManifestsOnKubernetes installs kindlab itself
// on a host cluster.)
func TestE2EHostedCluster(t *testing.T) {
	t.Parallel() // the longest test: the ones that mostly wait run beside it (fixtures_e2e_test.go)
	db := storetest.Postgres(t)
	kc, host := newHostCluster(t)
	ns := ownHostNamespace(t, host, "kindlab-hosted")
	ctx := context.Background()

	// A namespace under Pod Security "baseline" refuses the privileged pod.
	if _, err := host.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "baseline-only", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		host.CoreV1().Namespaces().Delete(context.Background(), "baseline-only", metav1.DeleteOptions{})
	})
	waitServiceAccount(t, host, "baseline-only")
	refused := newKindlabProcess(t, "--host-cluster", kc, "--host-namespace", "baseline-only")
	cmd := exec.Command(refused.bin, "serve", "--addr", refused.addr, "--state", refused.state, "--host-cluster", kc, "--host-namespace", "baseline-only")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("kindlab serve on a namespace that refuses privileged pods started:\n%s", out)
	}
	for _, want := range []string{"refuses privileged pods", "PodSecurity", "kubectl label namespace baseline-only pod-security.kubernetes.io/enforce=privileged"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kindlab serve on a namespace that refuses privileged pods said %q; want it to mention %q", out, want)
		}
	}

	// Each learner cluster pod asks for more than half a worker's CPU: one fits
	// on each worker, and a third waits.
	common := []string{"--db", db, "--replica-lease", "6s", "--host-cluster", kc, "--host-namespace", ns, "--host-cpu", "1100m", "--pool-max", "3", "--sessions-per-client", "5"}
	a := anotherKindlab(t, refused.bin, append([]string{"--replica", "a", "--pool-warm", "2"}, common...)...)
	a.args = append(a.args, "--replica-url", "http://"+a.addr)
	b := anotherKindlab(t, refused.bin, append([]string{"--replica", "b", "--pool-warm", "0"}, common...)...)
	b.args = append(b.args, "--replica-url", "http://"+b.addr)
	a.start(t)
	b.start(t)
	var mu sync.Mutex
	target := a.addr
	front := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		mu.Lock()
		pr.SetURL(&url.URL{Scheme: "http", Host: target})
		mu.Unlock()
		pr.Out.Host = pr.In.Host
	}, FlushInterval: -1})
	defer front.Close()

	// The two warm clusters: on different workers.
	started := time.Now()
	var nodes map[string]string
	for deadline := time.Now().Add(8 * time.Minute); ; {
		nodes = map[string]string{}
		for _, p := range learnerPods(t, host, ns) {
			if podstatus.Ready(&p) {
				nodes[p.Name] = p.Spec.NodeName
			}
		}
		if len(nodes) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two warm learner clusters on the host cluster: have %v", nodes)
		}
		time.Sleep(2 * time.Second)
	}
	var onNodes []string
	for _, n := range nodes {
		onNodes = append(onNodes, n)
	}
	if onNodes[0] == onNodes[1] {
		t.Errorf("the two learner clusters run on the same host node: %v", nodes)
	}
	t.Logf("two learner cluster pods ready on %v", nodes)
	if err := waitWarmAt(front.URL, 2, 5*time.Minute); err != nil {
		t.Fatalf("pool: %v (two pods ready after %s)", err, time.Since(started).Round(time.Second))
	}
	t.Logf("two warm learner clusters on the host cluster: %s", time.Since(started).Round(100*time.Millisecond))
	// The learner's kubelet evicts their pods before their node reaches its
	// memory budget, as on the local backend: it counts the memory of the
	// host node the pod runs on. (The pool keeps one warm cluster running and
	// pauses the other: its node takes no exec.)
	checked := 0
	for pod := range nodes {
		out, err := hostKubectl(kc, "", "-n", ns, "exec", pod, "--",
			"sh", "-c", `[ "$(docker inspect -f '{{.State.Paused}}' "$1")" = true ] && echo PAUSED || docker exec "$1" grep -A3 evictionHard /var/lib/kubelet/config.yaml`,
			"sh", pod+"-control-plane")
		if strings.TrimSpace(out) == "PAUSED" {
			continue
		}
		checked++
		if err != nil || !regexp.MustCompile(`memory.available: [0-9]+Mi`).MatchString(out) {
			t.Errorf("the kubelet of learner cluster %s on the host cluster has no memory eviction threshold: %v\n%s", pod, err, out)
		}
	}
	if checked == 0 {
		t.Errorf("no running warm learner cluster on the host cluster to read its kubelet's eviction threshold from: %v", nodes)
	}

	bctx, cancel := newBrowser(t)
	defer cancel()
	bctx, tcancel := context.WithTimeout(bctx, 15*time.Minute)
	defer tcancel()
	terminal := func() string { return termText(bctx) }
	clicked := time.Now()
	startLabAt(t, bctx, front.URL, 2*time.Minute)
	t.Logf("start click to an interactive terminal on the host cluster: %s", time.Since(clicked).Round(time.Millisecond))
	output := leaveOutput(t, bctx)
	clicked = time.Now()
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, checkStatus("homepage-ready")+` === "pass"`, 3*time.Minute); err != nil {
		t.Fatalf("step 1 on the host cluster: %v\n%s", err, terminal())
	}
	t.Logf("step 1 on the host cluster, Run click to green: %s", time.Since(clicked).Round(time.Millisecond))

	// Step 2: the learner's port-forward, and the app link to the homepage.
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="next-step"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, onStep(2)+` && window.kindlab.connected`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, `window.kindlab.termText().includes("Forwarding from")`, time.Minute); err != nil {
		t.Fatalf("port-forward: %v\n%s", err, terminal())
	}
	href, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid="app-link-homepage"]`), "href"))
	if err != nil {
		t.Fatalf("no app link on step 2: %v", err)
	}
	body, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => r.text())`, href.Value), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "Sign up") {
		t.Errorf("app link %s answered %q; want the homepage", href.Value, firstLine(body))
	}
	if err := waitJS(bctx, checkStatus("port-forwarded")+` === "pass"`, time.Minute); err != nil {
		t.Fatalf("step 2 check with the port-forward running: %v\n%s", err, terminal())
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	sid := sessionID(t, strings.TrimPrefix(loc, front.URL))

	// No room left: the pool's next pod waits, and a learner who starts now
	// (the other warm cluster goes to the learner before them) is told their
	// place in the queue.
	jar, _ := cookiejar.New(nil)
	other := &http.Client{Jar: jar, Timeout: time.Minute}
	var others []string // the other learner's session pages: on a cluster, queued
	for i := range 2 {
		resp, err := other.PostForm(front.URL+"/labs/services-dns/start", url.Values{"csrf": {pageCSRF(t, other, front.URL+"/")}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		others = append(others, resp.Request.URL.String())
		if i == 1 {
			waitQueued(t, other, others[1])
		}
	}
	pending := 0
	for _, p := range learnerPods(t, host, ns) {
		if p.Status.Phase == corev1.PodPending {
			pending++
		}
	}
	if pending == 0 {
		t.Errorf("no learner cluster pod waits for room on the host cluster: %v", learnerPods(t, host, ns))
	}

	// Step 3 opens; the port-forward still runs in the learner's terminal.
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="next-step"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, onStep(3)+` && window.kindlab.connected`, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// Replica a is killed; the address leads to b, which takes the learner over
	// and reaches their cluster through the host cluster's API.
	a.kill(t)
	killed := time.Now()
	mu.Lock()
	target = b.addr
	mu.Unlock()
	if err := waitNewShell(bctx); err != nil {
		t.Fatalf("the open page's terminal after replica a was killed: %v\n%s", err, terminal())
	}
	t.Logf("replica a killed to the learner's terminal back through b: %s", time.Since(killed).Round(100*time.Millisecond))
	newShellKept(t, bctx, output)
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s, err := st.Session(ctx, sid); err != nil || s.Owner != "b" || s.Step != 3 {
		t.Errorf("the session after a was killed: %+v, %v; want it run by b on step 3", s, err)
	}
	if status, _ := chromedp.Run(bctx, chromedp.Evaluate[string](checkStatus("logs-by-selector"))); status == "pass" {
		t.Fatalf("step 3's check passed before its command ran")
	}
	clicked = time.Now()
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="run-1"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, checkStatus("logs-by-selector")+` === "pass"`, time.Minute); err != nil {
		t.Fatalf("step 3 through replica b: %v\n%s", err, terminal())
	}
	t.Logf("step 3 through replica b, Run click to green: %s", time.Since(clicked).Round(time.Millisecond))

	// The other learner leaves: their session on a cluster and the queued one
	// (the room and CPU of their cluster go to the reset). The learner clicks
	// "Reset my cluster" and says OK in the browser's confirm: their cluster's
	// pod is deleted from the host cluster, and they get a fresh cluster there,
	// still on step 3, without what they made in the old one.
	for _, u := range others {
		resp, err := other.PostForm(u+"/end", url.Values{"csrf": {pageCSRF(t, other, u)}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	before, err := st.Session(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	dialogs, stopDialogs := context.WithCancel(bctx)
	defer stopDialogs()
	go func() {
		for _, err := range chromedp.Events(dialogs, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	// A mark in this page: gone once the browser has loaded another.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.beforeReset = true`)); err != nil {
		t.Fatal(err)
	}
	clicked = time.Now()
	if err := doEach(bctx, chromedp.Click(chromedp.CSS(`[data-testid="reset-cluster"]`))); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, `!window.beforeReset && `+onStep(3)+` && window.kindlab.connected`, 8*time.Minute); err != nil {
		s, _ := st.Session(ctx, sid)
		t.Fatalf("Reset my cluster on the host cluster: %v\nsession %+v\npods %v\n%s", err, s, learnerPods(t, host, ns), terminal())
	}
	t.Logf("Reset my cluster on the host cluster, click to a terminal on the fresh cluster: %s", time.Since(clicked).Round(100*time.Millisecond))
	stopDialogs()
	if s, err := st.Session(ctx, sid); err != nil || s.Cluster == before.Cluster || s.Step != 3 {
		t.Errorf("the session after the reset: %+v, %v; want step 3 on a cluster other than %s", s, err, before.Cluster)
	}
	if err := typeKeys(bctx, "kubectl get deploy homepage -o name 2>&1 | sed 's/^/deploy: /'\r"); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(bctx, `window.kindlab.termText().includes("deploy: Error from server (NotFound)")`, time.Minute); err != nil {
		t.Errorf("the fresh cluster after the reset still has step 1's Deployment, or kubectl did not answer: %v\n%s", err, terminal())
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		if !slices.ContainsFunc(learnerPods(t, host, ns), func(p corev1.Pod) bool { return p.Name == before.Cluster }) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the pod of the cluster the learner left by the reset, %s, is still on the host cluster", before.Cluster)
			break
		}
	}

	// kindlab validate on the host cluster: a lab run on a fresh learner
	// cluster there (a small request fits beside the two learners).
	validateStart := time.Now()
	validate := exec.Command(refused.bin, "validate", "--state", t.TempDir(), "--host-cluster", kc, "--host-namespace", ns, "--host-cpu", "100m", "pod-networking")
	validate.Dir = ".."
	if out, err := validate.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS pod-networking") {
		t.Errorf("kindlab validate --host-cluster: %v\n%s", err, out)
	}
	t.Logf("kindlab validate pod-networking on the host cluster: %s", time.Since(validateStart).Round(100*time.Millisecond))
}

// waitWarmAt waits for kindlab at base to report n warm clusters.
func waitWarmAt(base string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(base + "/metrics")
		if err == nil && strings.Contains(readAll(resp), fmt.Sprintf("\nkindlab_pool_warm %d\n", n)) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not %d warm clusters within %s", n, timeout)
		}
		time.Sleep(time.Second)
	}
}

// waitQueued waits for the progress page at u to show the learner first in line.
func waitQueued(t *testing.T, c *http.Client, u string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(resp)
		if strings.Contains(body, `data-queue="1"`) && strings.Contains(body, "number <strong data-queue-number>1</strong> in line") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queued learner's page does not show their place in line:\n%s", body)
		}
		time.Sleep(time.Second)
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// BenchmarkBackends runs the same learner on each cluster backend, side by
// side: kindlab serve with its learner clusters on this host's Docker engine
// (local), and in pods of a host cluster, a kind cluster with two workers on
// this host, reached through its API (hosted). For each it reports
//   - ms/start-p50 and -max: in Chromium, the Start click to the terminal's
//     prompt with a warm cluster (startSamples starts);
//   - ms/green-p50 and -max: a learner at work (step 1 done, step 3 open)
//     types step 3's command into the terminal; from the command's end, as
//     kindlab recorded it, to the event that says the step is green (five
//     rounds);
//   - ms/typed-green-p50 and -max: the same rounds from the command sent
//     into the terminal's websocket to that event (the command runs in the
//     learner's cluster; its output and end come back through the terminal's
//     exec stream).
//
// On one host the host cluster adds a Docker engine and a pod between kindlab
// and each learner's node, and the API's exec and port-forward streams to the
// terminal, checks and app links.
func BenchmarkBackends(b *testing.B) {
	var kc string
	for _, backend := range []string{"local", "hosted"} {
		b.Run(backend, func(b *testing.B) {
			args := []string{"--pool-warm", "1", "--pool-hot", "1", "--pool-max", "3", "--sessions-per-client", "100"}
			if backend == "hosted" {
				if kc == "" {
					kc, _ = newHostCluster(b)
				}
				args = append(args, "--host-cluster", kc)
			} else {
				newManager(b) // its clean-up deletes the pool's clusters
			}
			k := newKindlabProcess(b, args...)
			k.start(b)
			base := "http://" + k.addr
			st, err := store.Open(context.Background(), filepath.Join(k.state, "kindlab.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			bctx, cancel := newBrowser(b)
			defer cancel()
			var starts, greens, typed durations
			for range b.N {
				for range startSamples {
					if err := waitWarmAt(base, 1, 10*time.Minute); err != nil {
						b.Fatal(err)
					}
					d, _ := startInBrowser(b, bctx, base)
					starts = append(starts, d)
				}
				if err := waitWarmAt(base, 1, 10*time.Minute); err != nil {
					b.Fatal(err)
				}
				l := newBusyLearner(b, &platform{URL: base, db: st})
				for range 5 {
					end, sent := l.greenRound(b, &platform{URL: base, db: st})
					greens, typed = append(greens, end), append(typed, sent)
				}
				l.close()
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(starts.p(50)), "ms/start-p50")
			b.ReportMetric(ms(starts.p(100)), "ms/start-max")
			b.ReportMetric(ms(greens.p(50)), "ms/green-p50")
			b.ReportMetric(ms(greens.p(100)), "ms/green-max")
			b.ReportMetric(ms(typed.p(50)), "ms/typed-green-p50")
			b.ReportMetric(ms(typed.p(100)), "ms/typed-green-max")
			b.Logf("%s: starts %v; command end to green %v; command sent to green %v", backend, starts, greens, typed)
		})
	}
}
