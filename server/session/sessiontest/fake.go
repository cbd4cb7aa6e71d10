// Package sessiontest gives unit tests learner clusters without Docker: a Pool
// that hands clusters out at once, and a Connect that opens each one as a fake
// clientset and dynamic client (the workstation pod Ready) with an API server
// on 127.0.0.1 that answers /readyz (until SetDown), exec (the lab file copy)
// and, when asked to, the app proxy. It is for unit tests only; the end-to-end tests use real kind
// clusters.
package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/workstation"
)

// Clusters is a fake warm pool and the clusters it has handed out.
type Clusters struct {
	t     testing.TB
	proxy http.Handler

	mu       sync.Mutex
	n        int
	byName   map[string]*Cluster
	loaded   map[string][]string // images asked for, by cluster
	released []string
	fail     error
	places   []int
	warm     int                     // what Stats reports as warm
	nodes    map[string]cluster.Node // set by SetNode
	catalog  map[string][]byte       // lab files new clusters hold, set by SetCatalog
	paused   map[string]bool
	resumes  int           // Resume calls
	noResume error         // what Resume returns, set by FailResume
	tag      string        // in the names Claim gives, set by MadeBy
	held     chan struct{} // Delete waits for it to close, set by HoldDeletes
}

// Cluster is one fake learner cluster.
type Cluster struct {
	Name    string
	Client  *fake.Clientset
	Dynamic *dynamicfake.FakeDynamicClient
	api     *httptest.Server

	mu           sync.Mutex
	execs        [][]string
	down         bool
	slow         bool
	servicesDown bool
}

// SetDown makes the cluster's API server answer /readyz with 503 (down) or 200.
func (c *Cluster) SetDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

// SetSlow makes the cluster's API server take /readyz requests and never
// answer them (the client times out), as a cluster on a busy host does, or
// makes it answer again.
func (c *Cluster) SetSlow(slow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slow = slow
}

// SetServicesDown makes kubectl run in the workstation fail (exit 1, "no
// route to host"), as it does from inside a node that has just restarted while
// its Service routes are not set up again, or makes it work.
func (c *Cluster) SetServicesDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.servicesDown = down
}

// RestartWorkstation reports the workstation's container started (again) at
// at, as the kubelet does once a restarted node has started the pod again.
func (c *Cluster) RestartWorkstation(at time.Time) error {
	pods := c.Client.CoreV1().Pods(workstation.Namespace)
	p, err := pods.Get(context.Background(), workstation.Pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	p.Status.ContainerStatuses = runningSince(at)
	_, err = pods.UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	return err
}

func runningSince(at time.Time) []corev1.ContainerStatus {
	return []corev1.ContainerStatus{{Name: workstation.Container, Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at)}}}}
}

// New returns an empty fake pool. proxy, when not nil, answers every request
// to the clusters' API servers other than exec (the app proxy's path).
func New(t testing.TB, proxy http.Handler) *Clusters {
	return &Clusters{t: t, proxy: proxy, byName: map[string]*Cluster{}}
}

// FailClaims makes every later Claim fail with err (nil: succeed again).
func (f *Clusters) FailClaims(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// Queue makes the next Claim report these places in the queue (repeats
// included, as the pool may) before it hands out a cluster.
func (f *Clusters) Queue(places ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.places = places
}

// Claim hands out a new cluster at once, after the places in the queue set by Queue.
func (f *Clusters) Claim(ctx context.Context, position func(int)) (*cluster.Cluster, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.places {
		position(p)
	}
	f.places = nil
	if f.fail != nil {
		return nil, f.fail
	}
	f.n++
	c := f.newCluster(fmt.Sprintf("%s%sfake-%d", cluster.PoolPrefix, f.tag, f.n))
	f.byName[c.Name] = c
	return &cluster.Cluster{Name: c.Name}, nil
}

// MadeBy names the clusters Claim hands out from now on as the pool of the
// kindlab replica named replica does (cluster.PoolTag).
func (f *Clusters) MadeBy(replica string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tag = cluster.PoolTag(replica) + "-"
}

// Add makes a cluster named name that no session was given, as a pool makes
// one warm.
func (f *Clusters) Add(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byName[name] = f.newCluster(name)
}

// Release records that a cluster came back.
func (f *Clusters) Release(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, name)
	return nil
}

// SetCatalog makes the clusters handed out from now on hold files (keyed as
// platform.CatalogFiles keys them) in the workstation's lab-files
// ConfigMap, as a pool cluster prepared with them does.
func (f *Clusters) SetCatalog(files map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.catalog = files
}

// SetWarm sets how many warm clusters Stats reports (Claim hands out a new
// cluster at once either way).
func (f *Clusters) SetWarm(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.warm = n
}

// Stats reports the clusters handed out, and the warm ones set by SetWarm.
func (f *Clusters) Stats() cluster.PoolStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cluster.PoolStats{Warm: f.warm, Claimed: f.n - len(f.released), Max: 100}
}

// Get finds a cluster handed out (for sessions recovered after a restart).
func (f *Clusters) Get(ctx context.Context, name string) (*cluster.Cluster, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byName[name]; !ok {
		return nil, errors.New("no such cluster")
	}
	return &cluster.Cluster{Name: name}, nil
}

// List names the clusters handed out and not released.
func (f *Clusters) List(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.byName {
		out = append(out, n)
	}
	return out, nil
}

// LoadImages records the images a lab asked for; Loaded reports them.
func (f *Clusters) LoadImages(ctx context.Context, name string, images ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loaded == nil {
		f.loaded = map[string][]string{}
	}
	f.loaded[name] = append(f.loaded[name], images...)
	return nil
}

// Loaded returns the images loaded into cluster name.
func (f *Clusters) Loaded(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.loaded[name])
}

// SetNode makes Node report state for cluster name, started at started: a
// node that stopped, one running again, or EngineDown.
func (f *Clusters) SetNode(name string, state cluster.NodeState, started time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodes == nil {
		f.nodes = map[string]cluster.Node{}
	}
	f.nodes[name] = cluster.Node{State: state, Started: started}
}

// Node reports what SetNode set, else running since the fake's start for a
// cluster handed out, and gone for any other.
func (f *Clusters) Node(ctx context.Context, name string) (cluster.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.nodes[name]; ok {
		if n.State == EngineDown {
			return cluster.Node{}, cluster.ErrEngineDown
		}
		return n, nil
	}
	if _, ok := f.byName[name]; ok {
		if f.paused[name] {
			return cluster.Node{State: cluster.NodePaused}, nil
		}
		return cluster.Node{State: cluster.NodeRunning}, nil
	}
	return cluster.Node{State: cluster.NodeGone}, nil
}

// EngineDown, given to SetNode, makes Node say the Docker engine does not answer.
const EngineDown = "engine-down"

// Delete forgets a cluster.
func (f *Clusters) Delete(ctx context.Context, name string) error {
	f.mu.Lock()
	held := f.held
	f.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byName, name)
	return nil
}

// HoldDeletes makes Delete wait until release is called, as deleting a
// cluster's pod on a busy host cluster takes tens of seconds.
func (f *Clusters) HoldDeletes() (release func()) {
	held := make(chan struct{})
	f.mu.Lock()
	f.held = held
	f.mu.Unlock()
	return sync.OnceFunc(func() {
		f.mu.Lock()
		f.held = nil
		f.mu.Unlock()
		close(held)
	})
}

// Pause freezes a cluster: its API server does not answer until Resume, and
// Node reports it paused.
func (f *Clusters) Pause(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.byName[name]
	if !ok {
		return fmt.Errorf("sessiontest: no cluster %s", name)
	}
	if f.paused == nil {
		f.paused = map[string]bool{}
	}
	f.paused[name] = true
	c.SetDown(true)
	return nil
}

// Resume thaws a paused cluster, or fails as FailResume said.
func (f *Clusters) Resume(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumes++
	if f.noResume != nil {
		return f.noResume
	}
	if f.paused[name] {
		delete(f.paused, name)
		f.byName[name].SetDown(false)
	}
	return nil
}

// FailResume makes every later Resume fail with err (nil: succeed again).
func (f *Clusters) FailResume(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noResume = err
}

// Paused reports whether cluster name is paused, and how many times Resume was called.
func (f *Clusters) Paused(name string) (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paused[name], f.resumes
}

// Released lists the clusters given back, in order.
func (f *Clusters) Released() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.released...)
}

// Cluster returns a cluster handed out, by name.
func (f *Clusters) Cluster(name string) *Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byName[name]
}

// Connect opens a cluster handed out (session.Config.Connect).
func (f *Clusters) Connect(c *cluster.Cluster) (*workstation.Conn, error) {
	fc := f.Cluster(c.Name)
	if fc == nil {
		return nil, fmt.Errorf("sessiontest: no cluster %s", c.Name)
	}
	return workstation.With(&rest.Config{Host: fc.api.URL}, fc.Client, fc.Dynamic)
}

// f.mu is held.
func (f *Clusters) newCluster(name string) *Cluster {
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workstation.Namespace}},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: workstation.Pod, Namespace: workstation.Namespace},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: runningSince(time.Time{})},
		},
	}
	if f.catalog != nil {
		objs = append(objs, workstation.Catalog(f.catalog))
	}
	cs := fake.NewClientset(objs...)
	cs.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true},
			{Name: "services", Kind: "Service", Namespaced: true},
			{Name: "pods", Kind: "Pod", Namespaced: true},
			{Name: "namespaces", Kind: "Namespace"},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Kind: "Deployment", Namespaced: true}}},
	}
	c := &Cluster{Name: name, Client: cs, Dynamic: dynamicfake.NewSimpleDynamicClient(scheme.Scheme)}
	c.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			c.mu.Lock()
			down, slow := c.down, c.slow
			c.mu.Unlock()
			if slow {
				<-r.Context().Done()
				return
			}
			if down {
				http.Error(w, "not ready", http.StatusServiceUnavailable)
			}
			return
		}
		if strings.HasSuffix(r.URL.Path, "/exec") && wsstream.IsWebSocketRequest(r) {
			c.exec(w, r)
			return
		}
		if f.proxy != nil {
			f.proxy.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	f.t.Cleanup(c.api.Close)
	return c
}

// exec answers pods/exec like a kubelet whose command succeeds at once (kubectl
// fails while SetServicesDown).
func (c *Cluster) exec(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query()["command"]
	c.mu.Lock()
	c.execs = append(c.execs, cmd)
	fail := c.servicesDown && strings.Contains(strings.Join(cmd, " "), "kubectl")
	c.mu.Unlock()
	channels := []wsstream.ChannelType{wsstream.IgnoreChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.IgnoreChannel}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		"v5.channel.k8s.io": {Binary: true, Channels: channels},
		"v4.channel.k8s.io": {Binary: true, Channels: channels},
	})
	_, streams, err := conn.Open(w, r)
	if err != nil {
		return
	}
	defer conn.Close()
	status := metav1.Status{Status: metav1.StatusSuccess}
	if fail {
		streams[2].Write([]byte("Unable to connect to the server: dial tcp 10.96.0.1:443: connect: no route to host\n"))
		status = metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: "1"}}}}
	}
	out, _ := json.Marshal(status)
	streams[3].Write(out)
}

// Execs returns the commands exec'd in the cluster, in order.
func (c *Cluster) Execs() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string(nil), c.execs...)
}
