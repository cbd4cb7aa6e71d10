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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kindlab/kindlab/internal/podstatus"
	"github.com/kindlab/kindlab/workstation"
)

// Hosted is the second cluster backend: each learner's kind cluster runs in a
// pod of a host Kubernetes cluster, a privileged pod with a Docker engine of
// its own (images.Set.Dind) in which kind creates the node, as Kubernetes' own
// CI runs kind. The host cluster's scheduler spreads the pods over its nodes
// by their resource requests; a pod it has no room for stays Pending, and the
// learner waits in the pool's queue. kindlab reaches each cluster only through
// the host cluster's API: it runs commands in the pod (pods/exec) and forwards
// two ports of the pod to 127.0.0.1 (pods/portforward), the learner cluster's
// API server and its NodePort, so everything after Create (clients, terminal,
// checks, app links) works as on the local backend. It has the methods of
// Manager that the pool and the sessions use.
type Hosted struct {
	opts   HostedOptions
	client kubernetes.Interface
	conn   *workstation.Conn
	log    *slog.Logger

	mu         sync.Mutex
	tunnels    map[string]*tunnel  // by cluster name
	nodeImages map[string][]string // the images each cluster's node has, read once
}

// HostedOptions configure a Hosted backend.
type HostedOptions struct {
	Config        *rest.Config // the host cluster
	Namespace     string       // where learner cluster pods run
	Image         string       // the Docker-in-Docker image (images.Set.Dind), on the host cluster's nodes
	NodeImage     string       // the node image inside it (images.Set.Node; empty: the one the image names)
	KubeconfigDir string
	// CPU and Memory are each pod's requests (what the scheduler places by);
	// MemoryLimit bounds a pod's memory (empty: the budget's and the engine's).
	CPU, Memory, MemoryLimit string
	WaitReady                time.Duration // for the learner cluster's node (default 3m)
	// Budget bounds the learner cluster's node inside the pod (docker update
	// by the pod's engine once the cluster is made, as on the local backend);
	// the pod's memory limit is the budget's and its engine's (engineMemory),
	// and so is its engine's volume's size (engineDisk). The pod has no CPU
	// limit: the node's quota bounds what a learner runs, and a create takes
	// what CPU it can, as a local one does.
	Budget Budget
	Skip   []string // Tunings not to apply
	Logger *slog.Logger
}

// Labels on the pods of learner clusters.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "kindlab"
	clusterLabel   = "kindlab.org/cluster"
	// PlatformLabel marks kindlab's own pods on a host cluster (the server,
	// PostgreSQL: manifests/kindlab): no learner cluster pod runs on a node
	// with one, so a learner who escaped their node reaches neither.
	PlatformLabel = "app.kubernetes.io/part-of"
	platform      = "kindlab"
)

// What a learner cluster pod's Docker engine takes beside the node, on top
// of the learner's budget in the pod's limits: memory, and disk in the
// engine's volume (measured on a new cluster: 2.2 GB, the node image loaded
// 1.4 GB and the node's /var 0.8 GB; 2.6 GB after services-dns's first
// steps; the rest is room for etcd and logs).
const (
	engineMemory = 512 << 20
	engineDisk   = 4 << 30
)

// engineContainer is the name of the pod's one container.
const engineContainer = "engine"

// engineReady is the file the pod's script makes once its Docker engine has
// the node image; the readiness probe looks for it.
const engineReady = "/run/kindlab-engine-ready"

// hostedState is where kind writes kubeconfig files inside the pod (on the
// pod's own disk, with the engine's data).
const hostedState = "/var/lib/docker/kindlab"

// NewHosted returns a Hosted backend; it does not talk to the host cluster
// until used (Check tells early whether it can run learner clusters).
func NewHosted(opts HostedOptions) (*Hosted, error) {
	if opts.Config == nil {
		return nil, errors.New("cluster: no host cluster configured")
	}
	if opts.Image == "" {
		return nil, errors.New("cluster: no Docker-in-Docker image configured (build it with kindlab images build)")
	}
	if opts.Namespace == "" {
		opts.Namespace = "kindlab-clusters"
	}
	if opts.KubeconfigDir == "" {
		return nil, errors.New("cluster: no kubeconfig folder configured")
	}
	if err := os.MkdirAll(opts.KubeconfigDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: kubeconfig folder: %w", err)
	}
	if opts.CPU == "" {
		opts.CPU = "500m"
	}
	if opts.Memory == "" {
		opts.Memory = "1Gi"
	}
	for _, q := range []string{opts.CPU, opts.Memory, opts.MemoryLimit} {
		if _, err := resource.ParseQuantity(q); q != "" && err != nil {
			return nil, fmt.Errorf("cluster: resource %q: %w", q, err)
		}
	}
	if opts.WaitReady == 0 {
		opts.WaitReady = 3 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cs, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("cluster: host cluster client: %w", err)
	}
	conn, err := workstation.With(opts.Config, cs, nil)
	if err != nil {
		return nil, err
	}
	return &Hosted{opts: opts, client: cs, conn: conn, log: opts.Logger, tunnels: map[string]*tunnel{}, nodeImages: map[string][]string{}}, nil
}

// HostConfig reads the host cluster's configuration: from a kubeconfig file,
// or, when path is "in-cluster", from the service account of the pod kindlab
// runs in.
func HostConfig(path string) (*rest.Config, error) {
	if path == "in-cluster" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("host cluster: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("host cluster kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// KubeconfigDir is where the backend writes the learner clusters' kubeconfig files.
func (h *Hosted) KubeconfigDir() string { return h.opts.KubeconfigDir }

// Budget is what each learner cluster may take of the host cluster.
func (h *Hosted) Budget() Budget { return h.opts.Budget }

// pod is the pod a learner cluster runs in.
func (h *Hosted) pod(name string) *corev1.Pod {
	requests := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(h.opts.CPU),
		corev1.ResourceMemory: resource.MustParse(h.opts.Memory),
	}
	limits := corev1.ResourceList{}
	switch b := h.opts.Budget; {
	case h.opts.MemoryLimit != "":
		limits[corev1.ResourceMemory] = resource.MustParse(h.opts.MemoryLimit)
	case b.Memory > 0:
		limits[corev1.ResourceMemory] = *resource.NewQuantity(b.Memory+engineMemory, resource.BinarySI)
	}
	// The host's kubelet evicts the pod, the learner's cluster and all, should
	// its engine's volume pass this: what kindlab's own watch of the learner's
	// pods (Budget.DiskOver) lets by.
	var engineVolume *resource.Quantity
	if b := h.opts.Budget; b.Disk > 0 {
		engineVolume = resource.NewQuantity(b.Disk+engineDisk, resource.BinarySI)
	}
	var env []corev1.EnvVar // the image's own KINDLAB_NODE_IMAGE unless told
	if h.opts.NodeImage != "" {
		env = []corev1.EnvVar{{Name: "KINDLAB_NODE_IMAGE", Value: h.opts.NodeImage}}
	}
	yes, no := true, false
	grace := int64(30)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: h.opts.Namespace,
			Labels: map[string]string{managedByLabel: managedBy, clusterLabel: name},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			DNSPolicy:                     corev1.DNSDefault,
			TerminationGracePeriodSeconds: &grace,
			// Never on a node that runs kindlab or its database (in any
			// namespace); learners on different nodes where there is room:
			// one busy learner then slows no one else.
			Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{PlatformLabel: platform}},
					NamespaceSelector: &metav1.LabelSelector{},
					TopologyKey:       "kubernetes.io/hostname",
				}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
					Weight: 100,
					PodAffinityTerm: corev1.PodAffinityTerm{
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{managedByLabel: managedBy}},
						TopologyKey:   "kubernetes.io/hostname",
					},
				}},
			}},
			Containers: []corev1.Container{{
				Name:            engineContainer,
				Image:           h.opts.Image,
				ImagePullPolicy: corev1.PullNever, // no registry: the image is on the node or the pod fails with a clear reason
				Command:         []string{"/bin/sh", "-c", engineScript},
				Env:             env,
				SecurityContext: &corev1.SecurityContext{Privileged: &yes},
				Resources:       corev1.ResourceRequirements{Requests: requests, Limits: limits},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", engineReady}}},
					PeriodSeconds: 1, FailureThreshold: 1,
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "docker", MountPath: "/var/lib/docker"},
					{Name: "modules", MountPath: "/lib/modules", ReadOnly: true},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "docker", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: engineVolume}}},
				{Name: "modules", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/lib/modules"}}},
			},
		},
	}
}

// engineScript runs in the pod: a Docker engine, the node image loaded into it
// from the image's own archive, then the ready mark. On SIGTERM (the pod
// deleted) it removes the engine's containers before the engine stops, so the
// learner's node does not outlive its pod.
const engineScript = `set -e
mount -t tmpfs -o mode=0755 tmpfs /run
dockerd >/var/log/dockerd.log 2>&1 &
engine=$!
stop() {
	docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
	kill "$engine" 2>/dev/null || true
	wait "$engine" || true
	exit 0
}
trap stop TERM INT
i=0
until docker version >/dev/null 2>&1; do
	i=$((i+1))
	if [ "$i" -gt 300 ] || ! kill -0 "$engine" 2>/dev/null; then
		echo "the Docker engine did not start:"; tail -n 20 /var/log/dockerd.log; exit 1
	fi
	sleep 0.2
done
docker image inspect "$KINDLAB_NODE_IMAGE" >/dev/null 2>&1 || docker load -q -i /opt/kindlab/node.tar
touch ` + engineReady + `
wait "$engine"
`

// Check tells whether the host cluster takes learner cluster pods: the
// namespace exists and a privileged pod passes admission (a server-side dry
// run, nothing is created). A refusal names the rule that refused and what to
// change.
//
// A namespace made a moment ago has no default service account until the
// host's controller manager makes it, and admission refuses every pod
// meanwhile: that refusal is waited out, for up to checkSettle.
func (h *Hosted) Check(ctx context.Context) error {
	p := h.pod(Prefix + "check")
	deadline := time.Now().Add(checkSettle)
	for {
		_, err := h.client.CoreV1().Pods(h.opts.Namespace).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return nil
		}
		if !noServiceAccountYet(err) || time.Now().After(deadline) {
			return h.explainCreate(err)
		}
		select {
		case <-ctx.Done():
			return h.explainCreate(err)
		case <-time.After(checkSettle / 30):
		}
	}
}

// checkSettle is how long Check waits for a new namespace's service account.
const checkSettle = 30 * time.Second

// noServiceAccountYet tells the refusal of a pod in a namespace whose
// default service account the controller manager has not made yet.
func noServiceAccountYet(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "error looking up service account")
}

// explainCreate turns the host cluster's refusal of a pod into what to do.
func (h *Hosted) explainCreate(err error) error {
	msg := err.Error()
	ns := h.opts.Namespace
	switch {
	case apierrors.IsNotFound(err) && strings.Contains(msg, "namespaces"):
		return fmt.Errorf("host cluster: namespace %q does not exist: %w\nfix: kubectl create namespace %s && kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged (manifests/kindlab does both)", ns, err, ns, ns)
	case strings.Contains(msg, "violates PodSecurity"):
		return fmt.Errorf("host cluster refuses privileged pods in namespace %q (Pod Security admission: %w)\nfix: learner clusters run in privileged pods (Docker in Docker); label the namespace: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged --overwrite", ns, err, ns)
	case apierrors.IsForbidden(err) && strings.Contains(msg, "admission webhook"):
		return fmt.Errorf("host cluster's admission webhook refuses the learner cluster pod in namespace %q: %w\nfix: learner clusters run in privileged pods (Docker in Docker); exempt namespace %s from the policy named above", ns, err, ns)
	case apierrors.IsForbidden(err) && strings.Contains(msg, "ValidatingAdmissionPolicy"):
		return fmt.Errorf("host cluster's ValidatingAdmissionPolicy refuses the learner cluster pod in namespace %q: %w\nfix: learner clusters run in privileged pods (Docker in Docker); exclude namespace %s from the policy's binding", ns, err, ns)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("host cluster refuses kindlab a pod in namespace %q: %w\nfix: give kindlab's service account the Role in manifests/kindlab/rbac.yaml (create, get, list, watch and delete pods; create pods/exec and pods/portforward)", ns, err)
	}
	return fmt.Errorf("host cluster: %w", err)
}

// Create starts a learner cluster's pod, waits for the host cluster to run it
// (as long as it takes to find room: the learner waits in the pool's queue
// meanwhile), creates the kind cluster in it and finishes the node as the
// local backend does. On failure or when ctx ends the pod is deleted.
func (h *Hosted) Create(ctx context.Context, name string) (*Cluster, error) {
	name, err := FullName(name)
	if err != nil {
		return nil, err
	}
	clock := &phaseClock{}
	clock.begin("pod scheduled")
	start := time.Now()
	_, err = h.client.CoreV1().Pods(h.opts.Namespace).Create(ctx, h.pod(name), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create cluster %q: %w", name, ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("create cluster %q: %w", name, h.explainCreate(err))
	}
	c, err := h.create(ctx, name, clock)
	clock.end()
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := h.Delete(cleanup, name); derr != nil && !errors.Is(derr, ErrNotFound) {
			h.log.Error("clean-up after failed create", "cluster", name, "error", derr)
		}
		return nil, fmt.Errorf("create cluster %q: %w", name, err)
	}
	c.Phases = clock.Phases()
	h.log.Info("cluster ready", "cluster", name, "took", time.Since(start).Round(time.Millisecond), "phases", c.Phases.String())
	return c, nil
}

func (h *Hosted) create(ctx context.Context, name string, clock *phaseClock) (*Cluster, error) {
	if err := h.waitEngine(ctx, name, clock); err != nil {
		return nil, err
	}
	clock.begin("kind create")
	d := h.docker(name)
	// The node's kubelet sees the memory of the host node the pod runs on.
	var out bytes.Buffer
	hostTotal := int64(0)
	if err := d.exec(ctx, &out, "cat", "/proc/meminfo"); err == nil {
		hostTotal = meminfoKB(out.String(), "MemTotal") << 10
	}
	out.Reset()
	config := h.opts.Budget.evictFirst(Config(h.opts.Skip...), hostTotal)
	err := d.exec(ctx, &out, "sh", "-c", `mkdir -p "$1" && printf '%s' "$2" | kind create cluster --name "$3" --image "$KINDLAB_NODE_IMAGE" --config - --kubeconfig "$1/$3.kubeconfig" --wait "$4"`,
		"sh", hostedState, config, name, h.opts.WaitReady.String())
	if err != nil {
		return nil, explain(fmt.Errorf("kind create in pod %s/%s: %w: %s", h.opts.Namespace, name, err, tail(out.String(), 20)))
	}
	if err := FinishNode(ctx, d, name+"-control-plane", h.opts.WaitReady, h.opts.Skip, h.opts.Budget, clock.begin); err != nil {
		return nil, err
	}
	clock.begin("node's images listed")
	if _, err := h.images(ctx, name); err != nil {
		return nil, err
	}
	clock.begin("API tunnel")
	return h.Get(ctx, name)
}

// waitEngine waits for the pod's Docker engine to have the node image. A pod
// the scheduler has no room for waits (logged once); one that cannot start
// (its image missing on the node, say) or that ended is an error with the
// reason and the end of its log.
func (h *Hosted) waitEngine(ctx context.Context, name string, clock *phaseClock) error {
	pods := h.client.CoreV1().Pods(h.opts.Namespace)
	toldPending, scheduled := false, false
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", h.opts.Namespace, name, err)
		}
		if !scheduled && p.Spec.NodeName != "" {
			scheduled = true
			clock.begin("engine ready")
			h.log.Info("learner cluster pod scheduled", "cluster", name, "host_node", p.Spec.NodeName)
		}
		switch p.Status.Phase {
		case corev1.PodFailed, corev1.PodSucceeded:
			return fmt.Errorf("pod %s/%s ended before its engine was ready: %s", h.opts.Namespace, name, h.podLog(ctx, name))
		case corev1.PodRunning:
			if podstatus.Ready(p) {
				return nil
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImageNeverPull" || strings.Contains(w.Reason, "ImagePull") || w.Reason == "CreateContainerError") {
				return fmt.Errorf("pod %s/%s cannot start on host node %s: %s: %s\nfix: put the image %s on every host node without a registry (kindlab images save FILE, then ctr -n k8s.io images import FILE on each node)",
					h.opts.Namespace, name, p.Spec.NodeName, w.Reason, w.Message, h.opts.Image)
			}
		}
		if why := unschedulable(p); why != "" && !toldPending {
			toldPending = true
			h.log.Warn("no room on the host cluster for another learner cluster; it waits", "cluster", name, "why", why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// unschedulable is the scheduler's reason a pod waits, or "".
func unschedulable(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Message
		}
	}
	return ""
}

// Pending tells whether a learner cluster's pod waits for room on the host cluster, and why.
func (h *Hosted) Pending(ctx context.Context, name string) (string, bool) {
	p, err := h.client.CoreV1().Pods(h.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", false
	}
	why := unschedulable(p)
	return why, why != ""
}

func (h *Hosted) podLog(ctx context.Context, name string) string {
	lines := int64(20)
	data, err := h.client.CoreV1().Pods(h.opts.Namespace).GetLogs(name, &corev1.PodLogOptions{Container: engineContainer, TailLines: &lines}).DoRaw(ctx)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(data))
}

// podDocker runs docker commands in a learner cluster's pod, through the host
// cluster's API; it is the Docker that FinishNode and the node's state use.
type podDocker struct {
	h   *Hosted
	pod string
}

func (h *Hosted) docker(pod string) podDocker { return podDocker{h: h, pod: pod} }

// Run runs docker with args in the pod.
func (d podDocker) Run(ctx context.Context, stdout io.Writer, args ...string) error {
	return d.exec(ctx, stdout, append([]string{"docker"}, args...)...)
}

// exec runs a command in the pod's engine container; a command that ran and
// failed is an error with its exit code and stderr.
func (d podDocker) exec(ctx context.Context, stdout io.Writer, cmd ...string) error {
	out, errOut, code, err := d.h.conn.Exec(ctx, d.h.opts.Namespace, d.pod, engineContainer, cmd)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: pod %s/%s", ErrNotFound, d.h.opts.Namespace, d.pod)
		}
		return fmt.Errorf("%w: exec in pod %s/%s: %v", ErrEngineDown, d.h.opts.Namespace, d.pod, err)
	}
	io.WriteString(stdout, out)
	if code != 0 {
		return fmt.Errorf("%s: exit status %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(errOut))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Get returns a learner cluster, opening the tunnel to its API server and
// NodePort when this kindlab has none (after a restart, or on another replica).
func (h *Hosted) Get(ctx context.Context, name string) (*Cluster, error) {
	name, err := FullName(name)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	t := h.tunnels[name]
	h.mu.Unlock()
	if t != nil && t.alive() {
		return &Cluster{Name: name, Kubeconfig: h.kubeconfigPath(name), NodePort: t.local[1]}, nil
	}
	if _, err := h.client.CoreV1().Pods(h.opts.Namespace).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	} else if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEngineDown, err)
	}
	d := h.docker(name)
	var kc, port bytes.Buffer
	if err := d.exec(ctx, &kc, "cat", hostedState+"/"+name+".kubeconfig"); err != nil {
		return nil, fmt.Errorf("kubeconfig of %q: %w", name, err)
	}
	if err := d.Run(ctx, &port, "port", name+"-control-plane", fmt.Sprintf("%d/tcp", NodePort)); err != nil {
		return nil, fmt.Errorf("NodePort of %q: %w", name, err)
	}
	cfg, err := clientcmd.Load(kc.Bytes())
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %q: %w", name, err)
	}
	apiPort, err := serverPort(cfg.Clusters)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %q: %w", name, err)
	}
	nodePort, err := localPort(port.String())
	if err != nil {
		return nil, fmt.Errorf("NodePort of %q: %w", name, err)
	}
	t, err = h.openTunnel(name, apiPort, nodePort)
	if err != nil {
		return nil, err
	}
	for _, c := range cfg.Clusters {
		c.Server = fmt.Sprintf("https://127.0.0.1:%d", t.local[0])
	}
	if err := clientcmd.WriteToFile(*cfg, h.kubeconfigPath(name)); err != nil {
		t.close()
		return nil, err
	}
	h.mu.Lock()
	if old := h.tunnels[name]; old != nil {
		old.close()
	}
	h.tunnels[name] = t
	h.mu.Unlock()
	return &Cluster{Name: name, Kubeconfig: h.kubeconfigPath(name), NodePort: t.local[1]}, nil
}

// serverPort is the port of the (one) server a kind kubeconfig names.
func serverPort(clusters map[string]*clientcmdapi.Cluster) (int, error) {
	for _, c := range clusters {
		i := strings.LastIndex(c.Server, ":")
		if i < 0 {
			return 0, fmt.Errorf("server %q has no port", c.Server)
		}
		return strconv.Atoi(c.Server[i+1:])
	}
	return 0, errors.New("no cluster in it")
}

// localPort reads the 127.0.0.1 port from docker port's output.
func localPort(out string) (int, error) {
	for _, line := range strings.Split(out, "\n") {
		if host, p, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && host == "127.0.0.1" {
			return strconv.Atoi(p)
		}
	}
	return 0, fmt.Errorf("not mapped on 127.0.0.1 (docker port said %q)", out)
}

func (h *Hosted) kubeconfigPath(name string) string {
	return filepath.Join(h.opts.KubeconfigDir, name+".kubeconfig")
}

// Kubeconfig returns the kubeconfig of a learner cluster, its server the
// tunnel on 127.0.0.1.
func (h *Hosted) Kubeconfig(ctx context.Context, name string) (string, error) {
	c, err := h.Get(ctx, name)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(c.Kubeconfig)
	return string(data), err
}

// List returns the names of the learner clusters' pods in the namespace, sorted.
func (h *Hosted) List(ctx context.Context) ([]string, error) {
	list, err := h.client.CoreV1().Pods(h.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: managedByLabel + "=" + managedBy})
	if err != nil {
		return nil, fmt.Errorf("%w: list learner cluster pods: %v", ErrEngineDown, err)
	}
	var out []string
	for _, p := range list.Items {
		if strings.HasPrefix(p.Name, Prefix) {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete closes the cluster's tunnel and deletes its pod, waiting (up to a
// minute) for the pod to be gone: its engine removes the node first.
func (h *Hosted) Delete(ctx context.Context, name string) error {
	name, err := FullName(name)
	if err != nil {
		return err
	}
	h.mu.Lock()
	t := h.tunnels[name]
	delete(h.tunnels, name)
	delete(h.nodeImages, name)
	h.mu.Unlock()
	if t != nil {
		t.close()
	}
	removed := os.Remove(h.kubeconfigPath(name)) == nil
	pods := h.client.CoreV1().Pods(h.opts.Namespace)
	err = pods.Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		if removed || t != nil {
			return nil
		}
		return fmt.Errorf("delete cluster %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete cluster %q: %w", name, err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if _, err := pods.Get(wait, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			break
		}
		select {
		case <-wait.Done():
			h.log.Warn("learner cluster pod still terminating", "cluster", name)
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	h.log.Info("cluster deleted", "cluster", name)
	return nil
}

// LoadImages checks that the learner cluster's node has the images: the node
// image ships every lab image, and a pod has no other engine to load from.
func (h *Hosted) LoadImages(ctx context.Context, name string, images ...string) error {
	if len(images) == 0 {
		return nil
	}
	have, err := h.images(ctx, name)
	if err != nil {
		return err
	}
	for _, img := range images {
		if !slices.Contains(have, normalize(img)) {
			return fmt.Errorf("image %s is not in the learner cluster's node: on a host cluster a lab may only use the images the node image ships", img)
		}
	}
	return nil
}

// images lists the images in the learner cluster's node: a round trip to the
// pod the first time (as the cluster is made), from memory after it. Nothing
// adds images to a hosted node, so the list stays true.
func (h *Hosted) images(ctx context.Context, name string) ([]string, error) {
	h.mu.Lock()
	have, ok := h.nodeImages[name]
	h.mu.Unlock()
	if ok {
		return have, nil
	}
	var out bytes.Buffer
	if err := h.docker(name).Run(ctx, &out, "exec", name+"-control-plane", "ctr", "-n", "k8s.io", "images", "ls", "-q"); err != nil {
		return nil, fmt.Errorf("list node images: %w", err)
	}
	have = strings.Fields(out.String())
	h.mu.Lock()
	h.nodeImages[name] = have
	h.mu.Unlock()
	return have, nil
}

// Node tells the state of the learner cluster's node: its pod's, then the
// node container's in the pod's engine. ErrEngineDown: the host cluster's API
// does not answer.
func (h *Hosted) Node(ctx context.Context, name string) (Node, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p, err := h.client.CoreV1().Pods(h.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Node{State: NodeGone}, nil
	case err != nil:
		return Node{}, fmt.Errorf("%w: %v", ErrEngineDown, err)
	case p.Status.Phase == corev1.PodPending:
		return Node{State: NodeRestarting}, nil
	case p.Status.Phase != corev1.PodRunning:
		return Node{State: NodeExited}, nil
	}
	var out bytes.Buffer
	err = h.docker(name).Run(ctx, &out, "inspect", "--type", "container", "--format", nodeInspectFormat, name+"-control-plane")
	if err != nil {
		if errors.Is(err, ErrEngineDown) {
			return Node{}, err
		}
		return Node{State: NodeGone}, nil
	}
	return parseNode(out.String()), nil
}

// Pause freezes the learner cluster's node in its pod (the pod's engine's freezer).
func (h *Hosted) Pause(ctx context.Context, name string) error {
	if err := freeze(ctx, h.docker(name), name+"-control-plane"); err != nil {
		return fmt.Errorf("pause cluster %s: %w", name, err)
	}
	return nil
}

// Resume thaws a paused node; a node that is not paused is left as it is.
func (h *Hosted) Resume(ctx context.Context, name string) error {
	err := h.docker(name).Run(ctx, io.Discard, "unpause", name+"-control-plane")
	if err != nil && !strings.Contains(err.Error(), "is not paused") {
		return fmt.Errorf("resume cluster %s: %w", name, err)
	}
	return nil
}

// Close closes every tunnel.
func (h *Hosted) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, t := range h.tunnels {
		t.close()
		delete(h.tunnels, n)
	}
}
