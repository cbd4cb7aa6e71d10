// Package cluster owns learners' kind clusters, through kind as a Go library:
//
//   - Manager (cluster.go) creates, finds and deletes them. kind's API blocks and
//     takes no context; Manager adds a concurrency limit, cancellation that
//     cleans up, names that find kindlab's clusters again after a restart,
//     per-cluster kubeconfig files on 127.0.0.1, a Docker network per cluster,
//     the hardened kubelet and node, and lab images loaded into the node.
//   - Pool (pool.go) keeps clusters warm ahead of learners and queues claims.
//   - Prepare (platform.go) applies the platform objects (learner RBAC, the
//     admission guard, the workstation pod); NamespaceLimits (namespaces.go)
//     puts the quota into every namespace a learner makes.
//   - Doctor (doctor.go) tells whether this host can run learner clusters and
//     how many fit.
//
// The way into a cluster once it exists (clients, exec, terminal, files) is
// package workstation.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindlog "sigs.k8s.io/kind/pkg/log"
)

// Prefix starts the name of every cluster kindlab creates; List and the orphan sweep
// find clusters by it.
const Prefix = "kindlab-"

// maxName is kind's limit on cluster names (node container names get suffixes).
const maxName = 50

// NodePort is the NodePort every cluster maps to an ephemeral port on 127.0.0.1 so the
// host can reach NodePort Services; the labs use it.
const NodePort = 30080

// Sentinel errors; match with errors.Is.
var (
	ErrExists      = errors.New("cluster: name already taken")
	ErrNotFound    = errors.New("cluster: not found")
	ErrInvalidName = errors.New("cluster: invalid name")
)

// Cluster is a created learner cluster.
type Cluster struct {
	Name       string // full name, with Prefix
	Kubeconfig string // path of its kubeconfig file (server on 127.0.0.1)
	NodePort   int    // host port on 127.0.0.1 mapped to NodePort in the node
	Phases     Phases // how long each step of its creation took (from Create only)
}

// Options configure a Manager.
type Options struct {
	NodeImage     string        // kind node image (images.Set.Node)
	LabImages     []string      // images every cluster must have (loaded when missing)
	KubeconfigDir string        // where per-cluster kubeconfig files are written
	MaxConcurrent int           // creates at once (default 1)
	WaitReady     time.Duration // how long to wait for the node to be Ready (default 3m)
	Logger        *slog.Logger
	// Docker runs docker commands (image save, network clean-up); tests fake it.
	Docker Docker
	// Skip names Tunings not to apply.
	Skip []string
	// Budget bounds each cluster's node (zero: no limits).
	Budget Budget
}

// Docker is the small part of the docker CLI the manager uses beyond kind.
type Docker interface {
	Run(ctx context.Context, stdout io.Writer, args ...string) error
}

// Manager creates and deletes kindlab clusters.
type Manager struct {
	opts     Options
	provider *kindcluster.Provider
	slots    chan struct{}
	log      *slog.Logger
	// envMu serializes creates while kind reads its network name from the process
	// environment (networkEnv); see kindCreate.
	envMu sync.Mutex
}

// New returns a Manager. It does not talk to Docker until used.
func New(opts Options) (*Manager, error) {
	if opts.NodeImage == "" {
		return nil, errors.New("cluster: no node image configured (build one with kindlab images build)")
	}
	if opts.KubeconfigDir == "" {
		return nil, errors.New("cluster: no kubeconfig folder configured")
	}
	if err := os.MkdirAll(opts.KubeconfigDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: kubeconfig folder: %w", err)
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 1
	}
	if opts.WaitReady == 0 {
		opts.WaitReady = 3 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Docker == nil {
		opts.Docker = DockerCLI{}
	}
	return &Manager{
		opts:     opts,
		provider: kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindLogger{l: opts.Logger})),
		slots:    make(chan struct{}, opts.MaxConcurrent),
		log:      opts.Logger,
	}, nil
}

var validName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// FullName turns a short name ("ada-1") into the cluster name ("kindlab-ada-1").
func FullName(name string) (string, error) {
	if !strings.HasPrefix(name, Prefix) {
		name = Prefix + name
	}
	if len(name) > maxName || !validName.MatchString(name) {
		return "", fmt.Errorf("%w: %q (lowercase letters, digits and dashes, at most %d characters with the %q prefix)", ErrInvalidName, name, maxName, Prefix)
	}
	return name, nil
}

// Limits every learner cluster runs under (SECURITY.md explains each).
const (
	// PodPidsLimit is the kubelet's PID limit per pod: a fork bomb stops there.
	PodPidsLimit = 512
	// MaxPods is the kubelet's pod limit for the node.
	MaxPods = 40
	// TerminatedPods is how many ended pods the controller manager keeps: a
	// Deployment whose pods are evicted again and again (a learner's memory
	// hog) makes a new pod each time, and nothing else bounds the ended ones.
	TerminatedPods = 100
	// NodePidsLimit bounds the processes and threads of the whole node container
	// (an idle node runs about 600), so that no cluster can take the host's PIDs.
	NodePidsLimit = 4096
	// EtcdQuota bounds the cluster's etcd database on the node's disk (etcd's
	// own default is 2 GiB). The namespaces' quotas keep a learner's objects
	// far under it; past it, etcd refuses writes ("database space exceeded")
	// and only this cluster stops taking changes.
	EtcdQuota = 512 << 20
)

// Config is the kind cluster configuration for learner clusters: one node, the API
// server and the NodePort mapped on 127.0.0.1 only, the static bridge CNI baked into
// the node image, the kubelet allowed to run on cgroup v1 hosts, with the runtime's
// default seccomp profile for every container, a PID limit per pod and
// container logs rotated at 1Mi (two files kept: a learner's noisy pod fills
// no disk with its logs), at most TerminatedPods ended pods kept, etcd's
// database held to EtcdQuota, and the API
// server reading the admission configuration baked into the node image
// (/etc/kubernetes/kindlab/admission.yaml: PodSecurity baseline by default).
// Then the Tunings, but those named in skip.
func Config(skip ...string) string {
	var ops strings.Builder
	for _, t := range Tunings() {
		if !slices.Contains(skip, t.Name) {
			ops.WriteString(t.ops)
		}
	}
	return fmt.Sprintf(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  apiServerAddress: 127.0.0.1
  disableDefaultCNI: true
nodes:
- role: control-plane
  extraPortMappings:
  - containerPort: %d
    hostPort: 0
    listenAddress: 127.0.0.1
kubeadmConfigPatches:
- |
  kind: KubeletConfiguration
  failCgroupV1: false
  seccompDefault: true
  podPidsLimit: %d
  maxPods: %d
  containerLogMaxSize: 1Mi
  containerLogMaxFiles: 2
kubeadmConfigPatchesJSON6902:
- group: kubeadm.k8s.io
  version: v1beta4
  kind: ClusterConfiguration
  patch: |
    - op: add
      path: /apiServer/extraArgs/-
      value: {name: admission-control-config-file, value: /etc/kubernetes/kindlab/admission.yaml}
    - op: add
      path: /apiServer/extraVolumes
      value:
      - {name: kindlab, hostPath: /etc/kubernetes/kindlab, mountPath: /etc/kubernetes/kindlab, readOnly: true, pathType: Directory}
    - op: add
      path: /scheduler/extraArgs
      value: []
    - op: add
      path: /controllerManager/extraArgs/-
      value: {name: terminated-pod-gc-threshold, value: "%d"}
    - op: add
      path: /etcd
      value: {local: {extraArgs: [{name: quota-backend-bytes, value: "%d"}]}}
%s`, NodePort, PodPidsLimit, MaxPods, TerminatedPods, EtcdQuota, ops.String())
}

// A Tuning is one change to what a learner cluster's node runs, so that it
// costs less while a learner works in it or waits in the pool. Every one is
// on; Options.Skip turns some off (BenchmarkClusterIdle measures each against
// kubeadm's defaults).
type Tuning struct {
	Name, Why string
	ops       string // JSON 6902 operations on kubeadm's ClusterConfiguration
	dns       string // a JSON 6902 operation on the CoreDNS Deployment
}

// Tunings lists the tunings, in the order they are applied.
func Tunings() []Tuning {
	return []Tuning{
		{Name: "one-coredns", Why: "one CoreDNS replica serves one learner (kubeadm makes two)",
			dns: `{"op": "replace", "path": "/spec/replicas", "value": 1}`},
		{Name: "quick-dns-ready", Why: "CoreDNS's readiness is probed every second, not every 10: a new cluster's DNS is ready as soon as CoreDNS is, not at the next probe",
			dns: `{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/periodSeconds", "value": 1}`},
		{Name: "no-leader-election", Why: "one controller manager and one scheduler need no leader election: no lease renewed every 2 s through the API server and etcd", ops: `
    - op: add
      path: /controllerManager/extraArgs/-
      value: {name: leader-elect, value: "false"}
    - op: add
      path: /scheduler/extraArgs/-
      value: {name: leader-elect, value: "false"}
`},
		{Name: "fewer-controllers", Why: "no controllers for volumes, autoscaling or devices: a learner cluster has no storage, metrics or devices", ops: `
    - op: add
      path: /controllerManager/extraArgs/-
      value: {name: controllers, value: "*,` + strings.Join(idleControllers, ",") + `"}
`},
		{Name: "go-gc", Why: "the API server, controller manager, scheduler and etcd collect garbage sooner (GOGC=50)", ops: `
    - op: add
      path: /apiServer/extraEnvs
      value: [{name: GOGC, value: "50"}]
    - op: add
      path: /controllerManager/extraEnvs
      value: [{name: GOGC, value: "50"}]
    - op: add
      path: /scheduler/extraEnvs
      value: [{name: GOGC, value: "50"}]
    - op: add
      path: /etcd/local/extraEnvs
      value: [{name: GOGC, value: "50"}]
`},
	}
}

// idleControllers are the controller manager's controllers a learner cluster
// does without (names as kube-controller-manager --help lists them).
var idleControllers = []string{
	"-persistentvolume-attach-detach-controller", "-persistentvolume-binder-controller",
	"-persistentvolume-expander-controller", "-persistentvolume-protection-controller",
	"-persistentvolumeclaim-protection-controller", "-ephemeral-volume-controller",
	"-volumeattributesclass-protection-controller", "-horizontal-pod-autoscaler-controller",
	"-resourceclaim-controller", "-resourcepoolstatusrequest-controller", "-device-taint-eviction-controller",
}

// Create creates a cluster and waits for its node to be Ready. It holds one of the
// manager's slots while kind runs. If ctx ends first, or creation fails, everything
// created is deleted before Create returns.
func (m *Manager) Create(ctx context.Context, name string) (*Cluster, error) {
	name, err := FullName(name)
	if err != nil {
		return nil, err
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("create cluster %q: waiting for a free slot: %w", name, ctx.Err())
	}
	defer func() { <-m.slots }()

	existing, err := m.provider.List()
	if err != nil {
		return nil, dockerError(fmt.Errorf("list clusters: %w", err))
	}
	if slices.Contains(existing, name) {
		return nil, fmt.Errorf("create cluster %q: %w", name, ErrExists)
	}
	kubeconfig := m.kubeconfigPath(name)
	start := time.Now()
	m.log.Info("creating cluster", "cluster", name, "image", m.opts.NodeImage)
	clock := &phaseClock{}
	err = m.kindCreate(ctx, name, kubeconfig, m.opts.Budget.evictFirst(Config(m.opts.Skip...), hostMemTotal()), clock)
	if err == nil {
		err = m.afterCreate(ctx, name, clock)
	}
	clock.end()
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := m.Delete(cleanup, name); derr != nil && !errors.Is(derr, ErrNotFound) {
			m.log.Error("clean-up after failed create", "cluster", name, "error", derr)
		}
		return nil, fmt.Errorf("create cluster %q: %w", name, explain(err))
	}
	c, err := m.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	c.Phases = clock.Phases()
	m.log.Info("cluster ready", "cluster", name, "took", time.Since(start).Round(time.Millisecond), "phases", c.Phases.String())
	return c, nil
}

// networkLabel marks the Docker networks kindlab makes, one per cluster.
const networkLabel = "org.kindlab.cluster"

// networkEnv is the environment variable kind reads its Docker network's name from.
const networkEnv = "KIND_EXPERIMENTAL_DOCKER_NETWORK"

// kindCreate runs kind's create on the cluster's own Docker network. kind cannot be
// interrupted: if ctx ends first, the nodes are deleted under it so it fails fast,
// and kindCreate waits for it to return.
//
// Every cluster has a network of its own (named like the cluster), so no pod or node
// of one learner's cluster can reach another's node: Docker isolates user-defined
// bridge networks from each other. kind takes the name only from the process
// environment, once, when it starts provisioning (and says so in a warning); envMu
// holds the variable for this create until kind has read it.
func (m *Manager) kindCreate(ctx context.Context, name, kubeconfig, config string, clock *phaseClock) error {
	clock.begin("Docker network")
	if err := m.createNetwork(ctx, name); err != nil {
		return err
	}
	read := make(chan struct{})
	var once sync.Once
	provider := kindcluster.NewProvider(kindcluster.ProviderWithDocker(),
		kindcluster.ProviderWithLogger(kindLogger{l: m.log, onStatus: clock.kindStatus, onWarn: func(msg string) {
			if strings.Contains(msg, networkEnv) {
				once.Do(func() { close(read) })
			}
		}}))
	m.envMu.Lock()
	os.Setenv(networkEnv, name)
	release := sync.OnceFunc(func() {
		os.Unsetenv(networkEnv)
		m.envMu.Unlock()
	})
	defer release()
	done := make(chan error, 1)
	go func() {
		done <- provider.Create(name,
			kindcluster.CreateWithRawConfig([]byte(config)),
			kindcluster.CreateWithNodeImage(m.opts.NodeImage),
			kindcluster.CreateWithWaitForReady(m.opts.WaitReady),
			kindcluster.CreateWithKubeconfigPath(kubeconfig),
			kindcluster.CreateWithDisplayUsage(false),
			kindcluster.CreateWithDisplaySalutation(false),
		)
	}()
	for {
		select {
		case <-read:
			release()
			read = nil
		case err := <-done:
			return err
		case <-ctx.Done():
			m.log.Info("create cancelled, cleaning up", "cluster", name)
			_ = provider.Delete(name, kubeconfig)
			<-done
			return ctx.Err()
		}
	}
}

// createNetwork makes the cluster's own Docker bridge network (or keeps one left
// behind by a create that died), with the options kind gives its own network.
func (m *Manager) createNetwork(ctx context.Context, name string) error {
	if m.opts.Docker.Run(ctx, io.Discard, "network", "inspect", name, "--format", "{{.Name}}") == nil {
		return nil
	}
	err := m.opts.Docker.Run(ctx, io.Discard, "network", "create", "--driver=bridge",
		"-o", "com.docker.network.bridge.enable_ip_masquerade=true",
		"--label", networkLabel+"="+name, name)
	if err != nil {
		return fmt.Errorf("create the cluster's docker network: %w", err)
	}
	return nil
}

// removeNetwork removes the cluster's Docker network and reports whether it
// did; a network still in use or already gone is left alone. It fails when
// Docker does not answer (the network would outlive the cluster).
func (m *Manager) removeNetwork(ctx context.Context, name string) (bool, error) {
	var out bytes.Buffer
	if err := m.opts.Docker.Run(ctx, &out, "network", "inspect", name, "--format", "{{len .Containers}}"); err != nil {
		if msg := err.Error(); strings.Contains(msg, "No such network") || strings.Contains(msg, "not found") {
			return false, nil
		}
		return false, fmt.Errorf("remove the cluster's docker network: %w", err)
	}
	if strings.TrimSpace(out.String()) != "0" {
		return false, nil
	}
	if err := m.opts.Docker.Run(ctx, io.Discard, "network", "rm", name); err != nil {
		return false, fmt.Errorf("remove the cluster's docker network: %w", err)
	}
	return true, nil
}

// afterCreate finishes the node (FinishNode) and loads missing lab images.
func (m *Manager) afterCreate(ctx context.Context, name string, clock *phaseClock) error {
	node, err := m.node(name)
	if err != nil {
		return err
	}
	if err := FinishNode(ctx, m.opts.Docker, node.String(), m.opts.WaitReady, m.opts.Skip, m.opts.Budget, clock.begin); err != nil {
		return err
	}
	clock.begin("lab images")
	return m.loadImages(ctx, name, m.opts.LabImages...)
}

// FinishNode finishes a new cluster's node through the Docker engine that runs
// it: limits the node container's PIDs and applies the budget, checks the node is Ready (kind's wait
// does not fail on timeout), applies the CoreDNS tunings and waits for DNS,
// and removes kind's bootstrap token and host-path StorageClass once the node
// has joined. begin names each phase as it starts; skip names Tunings not to
// apply. Both backends use it: the local engine, and a pod's engine on a host
// cluster.
func FinishNode(ctx context.Context, d Docker, node string, waitReady time.Duration, skip []string, budget Budget, begin func(string)) error {
	run := func(out io.Writer, args ...string) error {
		return d.Run(ctx, out, append([]string{"exec", node}, args...)...)
	}
	begin("budget, node Ready")
	update := append([]string{"update", "--pids-limit", strconv.Itoa(NodePidsLimit)}, budget.updateArgs()...)
	if err := d.Run(ctx, io.Discard, append(update, node)...); err != nil {
		return fmt.Errorf("limit the node's processes, memory and CPU (%s): %w", budget, err)
	}
	var out bytes.Buffer
	if err := run(&out, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "nodes",
		"-o", `jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}`); err != nil {
		return fmt.Errorf("read node status: %w", err)
	}
	if strings.TrimSpace(out.String()) != "True" {
		return fmt.Errorf("node did not become Ready within %s", waitReady)
	}
	// Ready means Service names resolve: labs use DNS from their first command
	// on.
	script := "kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system rollout status deployment/coredns --timeout=2m"
	var patch []string
	for _, t := range Tunings() {
		if t.dns != "" && !slices.Contains(skip, t.Name) {
			patch = append(patch, t.dns)
		}
	}
	if len(patch) > 0 {
		script = fmt.Sprintf("kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system patch deployment/coredns --type=json -p '[%s]' && %s", strings.Join(patch, ", "), script)
	}
	begin("CoreDNS ready")
	if err := run(io.Discard, "sh", "-c", script); err != nil {
		return fmt.Errorf("cluster DNS (CoreDNS) did not become ready: %w", err)
	}
	// The node has joined: a bootstrap token would only let someone join another.
	// kind falls back to a host-path default StorageClass, which would hand out the
	// node's disk; no lab needs storage.
	begin("bootstrap token, StorageClass removed")
	err := run(io.Discard, "sh", "-c", "kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system delete secrets --field-selector type=bootstrap.kubernetes.io/token"+
		" && kubectl --kubeconfig=/etc/kubernetes/admin.conf delete storageclass --all")
	if err != nil {
		return fmt.Errorf("remove the bootstrap token and the host-path StorageClass: %w", err)
	}
	return nil
}

// LoadImages loads images from the host's Docker into the cluster's node,
// skipping those every cluster of this manager has (Options.LabImages, loaded
// as it was made: no round trip to the node for them) and those the node
// already has (the node image ships the lab images).
func (m *Manager) LoadImages(ctx context.Context, name string, images ...string) error {
	images = slices.DeleteFunc(slices.Clone(images), func(img string) bool { return slices.Contains(m.opts.LabImages, img) })
	return m.loadImages(ctx, name, images...)
}

func (m *Manager) loadImages(ctx context.Context, name string, images ...string) error {
	if len(images) == 0 {
		return nil
	}
	node, err := m.node(name)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := node.CommandContext(ctx, "ctr", "-n", "k8s.io", "images", "ls", "-q").SetStdout(&out).Run(); err != nil {
		return fmt.Errorf("list node images: %w", err)
	}
	have := map[string]bool{}
	for _, ref := range strings.Fields(out.String()) {
		have[ref] = true
	}
	for _, img := range images {
		if have[normalize(img)] {
			continue
		}
		m.log.Info("loading image", "cluster", name, "image", img)
		var tar bytes.Buffer
		if err := m.opts.Docker.Run(ctx, &tar, "save", img); err != nil {
			return fmt.Errorf("image %s is neither in the cluster's node nor in this host's Docker engine; build it or docker load it: %w", img, err)
		}
		if err := nodeutils.LoadImageArchive(node, &tar); err != nil {
			return fmt.Errorf("load image %s into %s: %w", img, name, err)
		}
	}
	return nil
}

// normalize turns a short image reference into containerd's full one.
func normalize(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if !found || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		if !found {
			ref = "library/" + ref
		}
		ref = "docker.io/" + ref
	}
	if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		ref += ":latest"
	}
	return ref
}

// Get returns a cluster kindlab created, rebuilding its kubeconfig file if missing.
func (m *Manager) Get(ctx context.Context, name string) (*Cluster, error) {
	name, err := FullName(name)
	if err != nil {
		return nil, err
	}
	node, err := m.node(name)
	if err != nil {
		return nil, err
	}
	path := m.kubeconfigPath(name)
	if _, err := os.Stat(path); err != nil {
		if err := m.provider.ExportKubeConfig(name, path, false); err != nil {
			return nil, fmt.Errorf("kubeconfig of %q: %w", name, err)
		}
	}
	port, err := m.hostPort(ctx, node.String(), NodePort)
	if err != nil {
		return nil, err
	}
	return &Cluster{Name: name, Kubeconfig: path, NodePort: port}, nil
}

func (m *Manager) hostPort(ctx context.Context, container string, port int) (int, error) {
	var out bytes.Buffer
	if err := m.opts.Docker.Run(ctx, &out, "port", container, fmt.Sprintf("%d/tcp", port)); err != nil {
		return 0, fmt.Errorf("find host port of %s: %w", container, err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if host, p, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && host == "127.0.0.1" {
			return strconv.Atoi(p)
		}
	}
	return 0, fmt.Errorf("port %d of %s is not mapped on 127.0.0.1 (docker port said %q)", port, container, out.String())
}

func (m *Manager) node(name string) (nodes.Node, error) {
	list, err := m.provider.ListNodes(name)
	if err != nil {
		return nil, dockerError(fmt.Errorf("list nodes of %q: %w", name, err))
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return list[0], nil
}

// Delete deletes a cluster, its kubeconfig file and its Docker network. Deleting a cluster that does not exist is ErrNotFound.
func (m *Manager) Delete(ctx context.Context, name string) error {
	name, err := FullName(name)
	if err != nil {
		return err
	}
	list, err := m.provider.ListNodes(name)
	if err != nil {
		return dockerError(fmt.Errorf("delete cluster %q: %w", name, err))
	}
	path := m.kubeconfigPath(name)
	if len(list) > 0 {
		if err := m.provider.Delete(name, path); err != nil {
			if n := m.thaw(ctx, list[0].String()); n == 0 {
				return fmt.Errorf("delete cluster %q: %w", name, err)
			}
			if err := m.provider.Delete(name, path); err != nil {
				return fmt.Errorf("delete cluster %q (after thawing its frozen cgroups): %w", name, err)
			}
		}
	}
	removed := os.Remove(path) == nil
	net, err := m.removeNetwork(ctx, name)
	if err != nil {
		return fmt.Errorf("delete cluster %q: %w", name, err)
	}
	if len(list) == 0 && !removed && !net {
		return fmt.Errorf("delete cluster %q: %w", name, ErrNotFound)
	}
	m.log.Info("cluster deleted", "cluster", name)
	return nil
}

// thaw thaws the frozen cgroups inside node (see thawNested), reporting how many.
func (m *Manager) thaw(ctx context.Context, node string) int {
	var id bytes.Buffer
	if err := m.opts.Docker.Run(ctx, &id, "inspect", "--format", "{{.Id}}", node); err != nil {
		return 0
	}
	n, err := thawNested("/", strings.TrimSpace(id.String()))
	if n > 0 || err != nil {
		m.log.Warn("thawed frozen cgroups inside a node Docker could not remove", "node", node, "thawed", n, "error", err)
	}
	return n
}

// List returns the names of kindlab's clusters (those with Prefix), sorted. A
// create that died before its node existed (kindlab killed) left only the
// cluster's Docker network; List names it too, so that Delete removes it.
func (m *Manager) List(ctx context.Context) ([]string, error) {
	all, err := m.provider.List()
	if err != nil {
		return nil, dockerError(fmt.Errorf("list clusters: %w", err))
	}
	var networks bytes.Buffer
	if err := m.opts.Docker.Run(ctx, &networks, "network", "ls", "--filter", "label="+networkLabel, "--format", "{{.Name}}"); err != nil {
		return nil, dockerError(fmt.Errorf("list cluster networks: %w", err))
	}
	var out []string
	for _, n := range append(all, strings.Fields(networks.String())...) {
		if strings.HasPrefix(n, Prefix) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Kubeconfig returns the kubeconfig of a cluster, with its server on 127.0.0.1.
func (m *Manager) Kubeconfig(ctx context.Context, name string) (string, error) {
	c, err := m.Get(ctx, name)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(c.Kubeconfig)
	return string(data), err
}

func (m *Manager) kubeconfigPath(name string) string {
	return filepath.Join(m.opts.KubeconfigDir, name+".kubeconfig")
}

// explain adds the likely cause and fix to errors whose cause is known.
func explain(err error) error {
	msg := err.Error()
	for _, k := range []struct{ match, fix string }{
		{"unable to apply caps", "the host's capability bounding set is restricted and dockerd does not use the kindlab-runc wrapper: run hack/ensure-docker.sh"},
		{"No such image", "the node image is missing: run kindlab images build (or make images)"},
		{"pull access denied", "the node image is missing and there is no registry: run kindlab images build"},
		{"failed to pull image", "the node image is not on this host and there is no registry to pull it from: run kindlab images build (or make images)"},
		{"port is already allocated", "a host port is taken: another process listens on it"},
		{"Cannot connect to the Docker daemon", "no Docker engine answers: run hack/ensure-docker.sh"},
		{"cannot allocate memory", "the host is out of memory: delete clusters or lower the pool size (kindlab doctor tells how many fit)"},
		{"did not become Ready", "the node started but Kubernetes did not come up: kindlab doctor checks the host; kind export logs shows why"},
	} {
		if strings.Contains(msg, k.match) {
			return fmt.Errorf("%w\nfix: %s", err, k.fix)
		}
	}
	return err
}

func dockerError(err error) error { return explain(err) }

// kindLogger sends kind's log lines to slog at debug level, its warnings also
// to onWarn and its status lines (level 0) to onStatus, when set.
type kindLogger struct {
	l        *slog.Logger
	onWarn   func(string)
	onStatus func(string)
}

func (k kindLogger) Warn(message string) {
	if k.onWarn != nil {
		k.onWarn(message)
		if strings.Contains(message, networkEnv) || strings.Contains(message, "Here be dragons") {
			return // expected: kindlab sets it on purpose
		}
	}
	k.l.Warn(message, "from", "kind")
}
func (k kindLogger) Warnf(format string, args ...interface{}) { k.Warn(fmt.Sprintf(format, args...)) }
func (k kindLogger) Error(message string)                     { k.l.Error(message, "from", "kind") }
func (k kindLogger) Errorf(format string, args ...interface{}) {
	k.Error(fmt.Sprintf(format, args...))
}
func (k kindLogger) V(level kindlog.Level) kindlog.InfoLogger {
	return kindInfo{k.l, level, k.onStatus}
}

type kindInfo struct {
	l        *slog.Logger
	level    kindlog.Level
	onStatus func(string)
}

func (k kindInfo) Info(message string) {
	if k.level == 0 && k.onStatus != nil {
		k.onStatus(message)
	}
	k.l.Debug(message, "from", "kind", "v", int(k.level))
}
func (k kindInfo) Infof(format string, args ...interface{}) { k.Info(fmt.Sprintf(format, args...)) }
func (k kindInfo) Enabled() bool                            { return k.l.Enabled(context.Background(), slog.LevelDebug) }

// DockerCLI runs the docker command.
type DockerCLI struct{}

// Run runs docker with args, writing its stdout to stdout.
func (DockerCLI) Run(ctx context.Context, stdout io.Writer, args ...string) error {
	var stderr bytes.Buffer
	cmd := newCommand(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// KubeconfigDir is where the manager writes kubeconfig files.
func (m *Manager) KubeconfigDir() string { return m.opts.KubeconfigDir }

// Budget is what each learner cluster may take of the host.
func (m *Manager) Budget() Budget { return m.opts.Budget }

// ErrEngineDown means the Docker engine did not answer.
var ErrEngineDown = errors.New("cluster: the Docker engine does not answer")

// NodeState is the state of a cluster's node container, as Docker names it
// (also "created", "removing" or "dead").
type NodeState string

// Node container states; NodeGone when there is none.
const (
	NodeRunning    NodeState = "running"
	NodeRestarting NodeState = "restarting"
	NodePaused     NodeState = "paused"
	NodeExited     NodeState = "exited"
	NodeGone       NodeState = ""
)

// Node is what Docker says of a cluster's node container.
type Node struct {
	State   NodeState
	Started time.Time // when the container last started
}

// nodeInspectFormat is the docker inspect format parseNode reads.
const nodeInspectFormat = "{{.State.Status}} {{.State.StartedAt}}"

// parseNode reads docker inspect's answer in nodeInspectFormat.
func parseNode(out string) Node {
	state, started, _ := strings.Cut(strings.TrimSpace(out), " ")
	at, _ := time.Parse(time.RFC3339Nano, started)
	return Node{State: NodeState(state), Started: at}
}

// Node tells what Docker says of the cluster's node container. The error wraps
// ErrEngineDown when the Docker engine does not answer, as while it restarts:
// the node may then come back with it (kind's nodes restart with the engine).
func (m *Manager) Node(ctx context.Context, name string) (Node, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := m.opts.Docker.Run(ctx, &out, "inspect", "--type", "container", "--format", nodeInspectFormat, name+"-control-plane")
	if err == nil {
		return parseNode(out.String()), nil
	}
	if perr := m.opts.Docker.Run(ctx, io.Discard, "version", "--format", "{{.Server.Version}}"); perr != nil {
		return Node{}, fmt.Errorf("%w: %v", ErrEngineDown, perr)
	}
	return Node{State: NodeGone}, nil
}

// Pause freezes the cluster's node container (Docker's freezer): every process
// in it stops where it is and uses no CPU; memory stays as it was. The API
// server answers again within a second of Resume (BenchmarkPauseResume).
func (m *Manager) Pause(ctx context.Context, name string) error {
	if err := freeze(ctx, m.opts.Docker, name+"-control-plane"); err != nil {
		return fmt.Errorf("pause cluster %s: %w", name, explain(err))
	}
	return nil
}

// freezeTries bounds freeze's attempts.
const freezeTries = 5

// freeze runs docker pause on a node, again when the freezer gave up. On
// cgroup v1, runc freezes by writing FROZEN and polling a bounded number of
// times; a node busy forking (an exec arriving, a pod starting) can outlast
// that, and runc answers "unable to freeze" with the node left running
// (opencontainers/runc#2791 calls it "a game of chances"). A moment later the
// same pause succeeds.
func freeze(ctx context.Context, docker Docker, node string) error {
	var err error
	for try := 1; try <= freezeTries; try++ {
		if err = docker.Run(ctx, io.Discard, "pause", node); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(try) * 100 * time.Millisecond):
		}
	}
	return err
}

// Resume thaws a paused cluster's node; a node that is not paused is left as it is.
func (m *Manager) Resume(ctx context.Context, name string) error {
	err := m.opts.Docker.Run(ctx, io.Discard, "unpause", name+"-control-plane")
	if err != nil && !strings.Contains(err.Error(), "is not paused") {
		return fmt.Errorf("resume cluster %s: %w", name, explain(err))
	}
	return nil
}
