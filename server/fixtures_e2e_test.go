//go:build e2e

package server_test

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kindlab/kindlab/cluster"
	labplatform "github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/images"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/workstation"
)

// The package's end-to-end tests share what is expensive to make. Each is made
// once, when a test first needs it, and ended when the package's tests have
// run (TestMain):
//
//   - a pool of warm learner clusters (sharedScope). A test that needs a
//     ready learner cluster that nobody has used starts a kindlab of its own
//     (its own store and settings) over this pool; when the test ends, the
//     clusters its learners took are deleted, and the pool has made the next
//     test's while this one ran. The tests whose faults reach the pool itself
//     (TestE2EClusterLost) or whose kindlab is a process of its own keep
//     theirs, as do the benchmarks that measure a pool's settings.
//     A test whose learners leave their clusters in a known state hands them
//     to the next test instead (startHandingOver; handover_e2e_test.go):
//     TestE2EDashboardSeesLearner, TestE2EForgedShellMarks,
//     TestE2EIdleClusterSleeps and TestE2EWalkLabs, and the quiet learner of
//     TestE2ENoisyLearner (handOverCluster). Any test of the pool may
//     get one of theirs; TestE2EWalkLabs checks, on every step, that nothing
//     is green before its Run buttons. The tests that prove a learner's
//     cluster deleted or fresh (TestE2ELearnerInBrowser,
//     TestE2ERestartRecovers), that attack it (TestE2EHostileLearner) or wear
//     it out (the noisy learner) delete theirs.
//   - one Chromium (newBrowser): each test gets a tab in a browser context of
//     its own, so no cookie passes from one test to the next.
//   - one host cluster (newHostCluster) for the tests of the hosted backend
//     and of manifests/kindlab; each test keeps its learners' pods in a
//     namespace of its own.
//   - one kindlab binary (kindlabBinary) for the tests that run kindlab as
//     processes of their own.
//
// Side by side: TestE2EHostedCluster, the longest, runs after the others
// (t.Parallel) with the two that mostly wait beside it, one after the other
// (go test -parallel 2): TestE2EIdleClusterSleeps (its learner asleep for
// minutes) and TestE2EHostileLearner (an attempt at a time, each waiting for
// its refusal). None of them measures a speed the others would distort;
// TestE2ENoisyLearner, which does, runs alone.
var shared fixtures

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kindlab-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.dir = dir
	flag.Parse()
	if run := flag.Lookup("test.run").Value.String(); run == "" || run == "E2E" {
		// The whole package runs (make e2e): its first clusters are made from
		// the start, beside the tests that come before the first to claim one.
		if err := shared.startPool(); err != nil {
			fmt.Fprintln(os.Stderr, "the shared pool:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	shared.close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sharedPrefix names the shared pool's clusters. It is not cluster.PoolPrefix,
// so the start-up sweep of the kindlab processes other tests run (which
// deletes every pool cluster no session holds) leaves them alone.
const sharedPrefix = cluster.Prefix + "e2e-"

type fixtures struct {
	dir string // kubeconfigs, Chromium's profile, bundles

	mu          sync.Mutex
	m           *cluster.Manager
	pool        *cluster.Pool
	stopPool    context.CancelFunc
	browser     context.Context
	stopBrowser context.CancelFunc
	host        *hostCluster
	kindlab     string // the binary the tests run as processes of their own

	prepare   func(context.Context, *cluster.Cluster) error // the shared pool's clusters'
	baselines map[string]baseline                           // by shared cluster, taken once prepared
	handing   sync.WaitGroup                                // hand-overs under way
	stopHand  context.CancelFunc                            // cuts them short (close)
	handCtx   context.Context
	handingN  int                // how many
	handed    chan struct{}      // closed (and made anew) as each ends
	spares    []*cluster.Cluster // handed over, paused, for the pool's next create
	toHand    map[string]bool    // released clusters to hand over, not delete
}

// kindlabBinary returns kindlab built from the source tree, built on first use
// (once for the package: each build of it to a new place links it again).
func (f *fixtures) kindlabBinary(t testing.TB) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kindlab == "" {
		bin := filepath.Join(f.dir, "kindlab")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/kindlab/kindlab").CombinedOutput(); err != nil {
			t.Fatalf("build kindlab: %v\n%s", err, out)
		}
		f.kindlab = bin
	}
	return f.kindlab
}

type hostCluster struct {
	m                *cluster.Manager // that made it
	name, kubeconfig string
	client           kubernetes.Interface
	nodes            []string // container IDs
	users            int      // tests using it now (fixtures.mu)
}

// sharedPool returns the package's pool, started on first use if TestMain
// did not start it.
func (f *fixtures) sharedPool(t testing.TB) (*cluster.Manager, *cluster.Pool) {
	t.Helper()
	if err := f.startPool(); err != nil {
		t.Fatal(err)
	}
	return f.m, f.pool
}

// startPool makes the shared pool and starts its first cluster: one warm,
// paused while it waits, as a workshop's pool keeps them. One ahead, not
// two: a test that claims two at once waits for the second, and no cluster
// is made that no test claims before the package ends (each made one costs
// both cores for a minute).
func (f *fixtures) startPool() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pool != nil {
		return nil
	}
	opts, err := managerOptions(filepath.Join(f.dir, "shared-pool"))
	if err != nil {
		return err
	}
	prepare, err := preparer()
	if err != nil {
		return err
	}
	m, err := cluster.New(opts)
	if err != nil {
		return err
	}
	f.m, f.prepare, f.baselines, f.handed = m, prepare, map[string]baseline{}, make(chan struct{})
	f.toHand = map[string]bool{}
	f.handCtx, f.stopHand = context.WithCancel(context.Background())
	f.pool = cluster.NewPool(sharedCreator{m, f}, cluster.PoolOptions{Warm: 1, Max: 8, Logger: testLog(),
		RefillAfter: 3 * time.Second, Prepare: f.prepareShared})
	ctx, cancel := context.WithCancel(context.Background())
	f.stopPool = cancel
	go f.pool.Run(ctx)
	return nil
}

// prepareShared readies a new cluster of the shared pool and takes its
// baseline, for its hand-overs. A handed-over cluster (one with a baseline)
// is ready already: its hand-over prepared it again.
func (f *fixtures) prepareShared(ctx context.Context, c *cluster.Cluster) error {
	f.mu.Lock()
	_, handedOver := f.baselines[c.Name]
	f.mu.Unlock()
	if handedOver {
		return nil
	}
	if err := f.prepare(ctx, c); err != nil {
		return err
	}
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		return err
	}
	b, err := takeBaseline(ctx, conn)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	f.mu.Lock()
	f.baselines[c.Name] = b
	f.mu.Unlock()
	return nil
}

// renewWarm deletes the shared pool's warm clusters, so that it makes new
// ones: after the Docker engine restarted, say, which a cluster paused while
// it waited does not come back from as the pool left it.
func (f *fixtures) renewWarm(t testing.TB) {
	f.mu.Lock()
	pool := f.pool
	f.mu.Unlock()
	if pool == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for pool.Stats().Warm > 0 {
		c, err := pool.Claim(ctx, nil) // one that did not come back is deleted by the claim
		if err != nil {
			t.Logf("renew the shared pool's warm clusters: %v", err)
			return
		}
		go pool.Release(context.Background(), c.Name)
	}
}

// browserContext returns a context of the package's Chromium, started on first use.
func (f *fixtures) browserContext(t testing.TB) context.Context {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.browser != nil {
		return f.browser
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("chromium is not installed: run hack/ensure-chromium.sh (make e2e does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(f.dir, "chromium")),
		chromedp.WindowSize(1400, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		bcancel()
		acancel()
		t.Fatalf("start Chromium: %v", err)
	}
	f.browser, f.stopBrowser = bctx, func() { bcancel(); acancel() }
	return f.browser
}

// hostCluster returns the package's host cluster, made on first use: a kind
// cluster with two workers standing in for a host Kubernetes cluster, its
// nodes given the images from a bundle, as a cluster without a registry gets
// them (kindlab images save --host-cluster): the Docker-in-Docker image,
// PostgreSQL's and kindlab's own (make platform-image, which the manifests
// test installs). Between the tests that use it, its nodes wait paused: three
// idle nodes take a share of the host's CPU that the tests between would
// wait for.
func (f *fixtures) hostCluster(t testing.TB) *hostCluster {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.host == nil {
		f.host = makeHostCluster(t, f.dir)
	}
	h := f.host
	if h.users == 0 {
		if err := h.resume(); err != nil {
			t.Fatal(err)
		}
	}
	h.users++
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if h.users--; h.users == 0 {
			h.pause()
		}
	})
	return h
}

// makeHostCluster makes the host cluster (hostCluster).
func makeHostCluster(t testing.TB, dir string) *hostCluster {
	t.Helper()
	start := time.Now()
	build := exec.Command("make", "platform-image")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make platform-image: %v\n%s", err, out)
	}
	t.Logf("make platform-image: %s", time.Since(start).Round(100*time.Millisecond))
	src, err := sourceTree()
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "host-images.tar")
	start = time.Now()
	builder := &images.Builder{Src: src, Cache: filepath.Join(os.TempDir(), "kindlab-plan"), Run: images.ExecRunner{}}
	if _, err := builder.SaveHost(context.Background(), bundle); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(bundle)
	t.Logf("kindlab images save --host-cluster: %s", time.Since(start).Round(100*time.Millisecond))
	opts, err := managerOptions(filepath.Join(dir, "host"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("host-%d", time.Now().UnixNano()%1e6)
	start = time.Now()
	kc, err := m.CreateHost(context.Background(), name, cluster.HostOptions{Workers: 2, Namespace: hostNamespace, Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host cluster with two workers, the bundle imported on each: %s", time.Since(start).Round(100*time.Millisecond))
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := cluster.FullName(name)
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=io.x-k8s.kind.cluster="+full).Output()
	if err != nil {
		t.Fatalf("the host cluster's nodes: %v", err)
	}
	return &hostCluster{m: m, name: name, kubeconfig: kc, client: kubernetes.NewForConfigOrDie(cfg), nodes: strings.Fields(string(out))}
}

// pause freezes the host cluster's nodes; one that does not freeze is left
// running (it costs CPU, nothing else).
func (h *hostCluster) pause() {
	for _, n := range h.nodes {
		if out, err := exec.Command("docker", "pause", n).CombinedOutput(); err != nil {
			testLog().Warn("host cluster: a node not paused", "node", n, "error", err, "output", strings.TrimSpace(string(out)))
		}
	}
}

// resume thaws the host cluster's nodes and waits until each is Ready and
// untainted again: the control plane, thawed with them, may first take a
// node whose lease it saw renewed minutes ago for unreachable.
func (h *hostCluster) resume() error {
	for _, n := range h.nodes {
		if out, err := exec.Command("docker", "unpause", n).CombinedOutput(); err != nil && !strings.Contains(string(out), "is not paused") {
			return fmt.Errorf("host cluster: unpause node %s: %v: %s", n, err, out)
		}
	}
	ctx := context.Background()
	var why string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		nodes, err := h.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			why = err.Error()
			continue
		}
		why = ""
		for _, n := range nodes.Items {
			if !nodeReady(n) || len(n.Spec.Taints) > 0 && !onlyControlPlaneTaint(n) {
				why = fmt.Sprintf("node %s: ready %v, taints %v", n.Name, nodeReady(n), n.Spec.Taints)
			}
		}
		if why == "" {
			return nil
		}
	}
	return fmt.Errorf("host cluster: not every node Ready and untainted 2 minutes after a resume: %s", why)
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// onlyControlPlaneTaint: the node's one taint is the control plane's own.
func onlyControlPlaneTaint(n corev1.Node) bool {
	return len(n.Spec.Taints) == 1 && n.Spec.Taints[0].Key == "node-role.kubernetes.io/control-plane"
}

// close ends what was made: the pool and every cluster it made, Chromium,
// the host cluster.
func (f *fixtures) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx := context.Background()
	if f.stopBrowser != nil {
		f.stopBrowser()
	}
	if f.pool != nil {
		f.mu.Unlock()
		f.stopPool() // the package is done: no test takes a cluster
		f.stopHand()
		f.handing.Wait()
		f.pool.Wait()
		f.mu.Lock()
		names, _ := f.m.List(ctx)
		for _, n := range names {
			if strings.HasPrefix(n, sharedPrefix) {
				f.m.Delete(ctx, n)
			}
		}
	}
	if f.host != nil {
		for _, n := range f.host.nodes { // a paused node is not deleted
			exec.Command("docker", "unpause", n).Run()
		}
		if err := f.host.m.Delete(ctx, f.host.name); err != nil {
			fmt.Fprintf(os.Stderr, "delete the host cluster %s: %v\n", f.host.name, err)
		}
	}
}

// sharedCreator is the shared pool's Creator. A create takes a cluster an
// earlier test handed over when there is one, or waits for a hand-over under
// way (minutes of both cores less than a create); else it makes one, named
// kindlab-e2e-… in place of kindlab-p-…. A delete of a cluster its test
// hands over (scope.Release) starts the hand-over instead. Pause and Resume
// are the manager's.
type sharedCreator struct {
	*cluster.Manager
	f *fixtures
}

func (s sharedCreator) Create(ctx context.Context, name string) (*cluster.Cluster, error) {
	if c := s.f.takeSpare(ctx); c != nil {
		return c, nil
	}
	return s.Manager.Create(ctx, sharedPrefix+strings.TrimPrefix(name, cluster.PoolPrefix))
}

func (s sharedCreator) Delete(ctx context.Context, name string) error {
	s.f.mu.Lock()
	handOver := s.f.toHand[name]
	delete(s.f.toHand, name)
	s.f.mu.Unlock()
	if handOver {
		s.f.startHandOver(name)
		return nil
	}
	return s.Manager.Delete(ctx, name)
}

// scope is what one test's kindlab sees of clusters and the pool: the server's
// Pool and Clusters. Over the shared pool, it lists only the clusters its
// learners took (so that the test's kindlab, at its start, deletes none of
// another's), and the test's end deletes those still held.
type scope struct {
	*cluster.Manager
	pool   *cluster.Pool
	shared bool
	// handOver: the test's learners leave their clusters in a known state,
	// and each released cluster goes to the next test (fixtures.handOver);
	// handsOver names the ones that do, in a test where others do not.
	handOver  bool
	handsOver map[string]bool

	mu      sync.Mutex
	mine    map[string]bool // every cluster claimed through this scope
	held    map[string]bool // claimed and not released
	adopted []string        // recovered by a kindlab started again (Recover)
}

// sharedScope is a test's share of the package's pool.
func sharedScope(t testing.TB) *scope {
	t.Helper()
	m, pool := shared.sharedPool(t)
	s := &scope{Manager: m, pool: pool, shared: true, mine: map[string]bool{}, held: map[string]bool{}}
	t.Cleanup(func() {
		for _, n := range s.Held() {
			s.Release(context.Background(), n)
		}
	})
	return s
}

// ownScope is a manager and pool of the test's own: warm clusters (all paused,
// Hot 0: every claim resumes one), up to two in all, unless opts say otherwise.
// The test's end stops the pool and deletes every pool cluster on the host.
func ownScope(t testing.TB, warm int, opts ...func(*cluster.PoolOptions)) *scope {
	t.Helper()
	m := newManager(t)
	prepare, err := preparer()
	if err != nil {
		t.Fatal(err)
	}
	popts := cluster.PoolOptions{Warm: warm, Max: 2, Logger: testLog(), RefillAfter: 3 * time.Second, Prepare: prepare}
	for _, o := range opts {
		o(&popts)
	}
	pool := cluster.NewPool(m, popts)
	ctx, cancel := context.WithCancel(context.Background())
	go pool.Run(ctx)
	// Before newManager's clean-up: a create cut short cleans up in the
	// kubeconfig folder, a t.TempDir.
	t.Cleanup(func() { cancel(); pool.Wait() })
	return &scope{Manager: m, pool: pool, mine: map[string]bool{}, held: map[string]bool{}}
}

func (s *scope) Claim(ctx context.Context, position func(int)) (*cluster.Cluster, error) {
	c, err := s.pool.Claim(ctx, position)
	if err == nil {
		s.mu.Lock()
		s.mine[c.Name], s.held[c.Name] = true, true
		s.mu.Unlock()
	}
	return c, err
}

func (s *scope) Release(ctx context.Context, name string) error {
	s.mu.Lock()
	delete(s.held, name)
	handOver := s.handOver || s.handsOver[name]
	s.mu.Unlock()
	if s.shared && handOver {
		shared.mu.Lock()
		shared.toHand[name] = true
		shared.mu.Unlock()
	}
	return s.pool.Release(ctx, name)
}

func (s *scope) Stats() cluster.PoolStats { return s.pool.Stats() }

// List lists the clusters on the host; over the shared pool, only those this
// scope claimed that are still there.
func (s *scope) List(ctx context.Context) ([]string, error) {
	names, err := s.Manager.List(ctx)
	if err != nil || !s.shared {
		return names, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.DeleteFunc(names, func(n string) bool { return !s.mine[n] }), nil
}

// adopt takes back, as claimed, a cluster a session held before its kindlab
// started again.
func (s *scope) adopt(c *cluster.Cluster) {
	s.mu.Lock()
	s.mine[c.Name], s.held[c.Name] = true, true
	s.adopted = append(s.adopted, c.Name)
	s.mu.Unlock()
	s.pool.Adopt(c, true)
}

// handOverCluster marks one cluster of the scope's to be handed over when
// released.
func (s *scope) handOverCluster(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handsOver == nil {
		s.handsOver = map[string]bool{}
	}
	s.handsOver[name] = true
}

// Held lists the clusters claimed through this scope and not released.
func (s *scope) Held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.held))
}

// Adopted lists the clusters kindlabs started again on this scope took back.
func (s *scope) Adopted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.adopted)
}

// sourceTree is the kindlab source tree the tests run in.
func sourceTree() (string, error) {
	wd, _ := os.Getwd()
	return images.FindSource(wd)
}

// managerOptions are a cluster manager's options for the images the source
// tree builds, its kubeconfigs in dir, each cluster with kindlab serve's
// default budget.
func managerOptions(dir string) (cluster.Options, error) {
	src, err := sourceTree()
	if err != nil {
		return cluster.Options{}, err
	}
	set, err := (&images.Builder{Src: src, Cache: filepath.Join(os.TempDir(), "kindlab-plan"), Run: images.ExecRunner{}}).Plan(context.Background())
	if err != nil {
		return cluster.Options{}, err
	}
	return cluster.Options{NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: dir, MaxConcurrent: 2, Logger: testLog(),
		Budget: cluster.DefaultBudget}, nil // as kindlab serve's default
}

// preparer readies a pool's new cluster as kindlab serve's does.
func preparer() (func(context.Context, *cluster.Cluster) error, error) {
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		return nil, err
	}
	platformFS, _ := fs.Sub(manifests.FS(), "platform")
	labFiles, err := labplatform.CatalogFiles(manifests.FS(), cat.Labs)
	if err != nil {
		return nil, err
	}
	return labplatform.Preparer(platformFS, labFiles), nil
}
