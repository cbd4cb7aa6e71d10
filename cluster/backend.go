package cluster

import (
	"context"
	"os"
	"path/filepath"
)

// Backend is where learner clusters run: the host's Docker engine (Manager)
// or pods of a host Kubernetes cluster (Hosted). The pool, the sessions and
// the CLI know a backend by this contract alone.
type Backend interface {
	Creator // Create, Delete
	Pauser  // Pause, Resume: freeze and thaw a cluster's node
	// Get finds a cluster by name and connects to its API server.
	Get(ctx context.Context, name string) (*Cluster, error)
	// List names the backend's clusters.
	List(ctx context.Context) ([]string, error)
	// Kubeconfig writes, or finds, the cluster's kubeconfig and returns its path.
	Kubeconfig(ctx context.Context, name string) (string, error)
	// LoadImages puts images on the cluster's node.
	LoadImages(ctx context.Context, name string, images ...string) error
	// Node tells what the engine says of the cluster's node container; an
	// error wrapping ErrEngineDown means the engine did not answer.
	Node(ctx context.Context, name string) (Node, error)
	// KubeconfigDir is where the kubeconfig files go; its parent is
	// kindlab's state folder.
	KubeconfigDir() string
	// Budget is what each learner cluster may take.
	Budget() Budget
	// FreeMemoryMiB is the memory free where the clusters run, if known.
	FreeMemoryMiB() (mib int, ok bool)
	// Fit says how many learner clusters the backend runs well at once (the
	// pool's default size), and whether that was measured on this host.
	Fit(ctx context.Context) Report
	// String says where the clusters run, for the log.
	String() string
	// Close lets go of what the backend holds open.
	Close()
}

var (
	_ Backend = (*Manager)(nil)
	_ Backend = (*Hosted)(nil)
)

// Fit is what Doctor finds this host runs well, with the capacity measured
// here if any.
func (m *Manager) Fit(ctx context.Context) Report {
	return Doctor(ctx, LocalHost(filepath.Dir(m.opts.KubeconfigDir)), m.opts.NodeImage)
}

// FreeMemoryMiB is this host's available memory (/proc/meminfo).
func (m *Manager) FreeMemoryMiB() (int, bool) {
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return memAvailableMiB(string(meminfo)), true
}

// String says where the clusters run.
func (m *Manager) String() string { return "local Docker engine" }

// Close holds nothing open: the Docker engine keeps the clusters.
func (m *Manager) Close() {}

// HostedFit is the pool's default size on a host cluster: its scheduler
// decides where learners fit, and a pod it has no room for waits, and its
// learner with it, in the queue.
const HostedFit = 100

// Fit leaves it to the host cluster's scheduler (HostedFit).
func (h *Hosted) Fit(context.Context) Report { return Report{Fit: HostedFit} }

// FreeMemoryMiB is not known: kindlab may not read the host cluster's
// nodes (manifests/kindlab's Role), and its own pod's node is not where
// learner clusters run.
func (h *Hosted) FreeMemoryMiB() (int, bool) { return 0, false }

// String says where the clusters run.
func (h *Hosted) String() string { return "host cluster, namespace " + h.opts.Namespace }
