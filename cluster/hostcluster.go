package cluster

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// hostConfig is the kind configuration of a stand-in host cluster: a control
// plane and workers, the node image's bridge CNI (hostPodNetwork gives each
// node its own subnet and routes between them), Pod Security admission at its
// defaults (the namespace of learner clusters is labelled privileged).
const hostConfig = `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  apiServerAddress: 127.0.0.1
  disableDefaultCNI: true
nodes:
%s
kubeadmConfigPatches:
- |
  kind: KubeletConfiguration
  failCgroupV1: false
`

// HostOptions describe a stand-in host cluster.
type HostOptions struct {
	Workers   int
	Namespace string // for learner cluster pods, labelled for privileged pods
	// The images every worker gets, without a registry: from a bundle file
	// (kindlab images save --host-cluster; .gz: gzipped) when set, else Image
	// from this host's Docker engine.
	Bundle, Image string
}

// CreateHost creates a kind cluster with workers that stands in for a host
// Kubernetes cluster on this machine (kindlab's tests and `kindlab cluster
// host`): the Docker-in-Docker image is imported into every worker's
// containerd (no registry), and the namespace is made and labelled for
// privileged pods. It returns the cluster's kubeconfig path.
func (m *Manager) CreateHost(ctx context.Context, name string, o HostOptions) (string, error) {
	workers := o.Workers
	name, err := FullName(name)
	if err != nil {
		return "", err
	}
	if workers < 1 {
		return "", errors.New("cluster: a host cluster needs a worker")
	}
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-m.slots }()
	kubeconfig := m.kubeconfigPath(name)
	// The mark that tells the node's entrypoint not to limit connections out.
	mark := filepath.Join(m.opts.KubeconfigDir, name+".host-node")
	if err := os.WriteFile(mark, nil, 0o644); err != nil {
		return "", err
	}
	node := func(role string) string {
		return fmt.Sprintf("- role: %s\n  extraMounts:\n  - {hostPath: %s, containerPath: /kind/kindlab-host-node, readOnly: true}\n", role, mark)
	}
	config := fmt.Sprintf(hostConfig, node("control-plane")+strings.Repeat(node("worker"), workers))
	start := time.Now()
	err = m.kindCreate(ctx, name, kubeconfig, config, &phaseClock{})
	if err == nil {
		err = m.prepareHost(ctx, name, o)
	}
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := m.Delete(cleanup, name); derr != nil && !errors.Is(derr, ErrNotFound) {
			m.log.Error("clean-up after failed create", "cluster", name, "error", derr)
		}
		return "", fmt.Errorf("create host cluster %q: %w", name, explain(err))
	}
	m.log.Info("host cluster ready", "cluster", name, "workers", workers, "took", time.Since(start).Round(time.Millisecond))
	return kubeconfig, nil
}

// prepareHost imports the images into the workers (in parallel, from one
// read of the bundle or one docker save each) and makes the namespace.
func (m *Manager) prepareHost(ctx context.Context, name string, o HostOptions) error {
	nodes, err := m.provider.ListInternalNodes(name)
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, n := range nodes {
		if strings.HasSuffix(n.String(), "-control-plane") {
			continue
		}
		wg.Go(func() {
			load := func(r io.Reader) error { return nodeutils.LoadImageArchive(n, r) }
			var err error
			if o.Bundle != "" {
				err = importBundle(o.Bundle, load)
			} else {
				err = importImage(ctx, o.Image, load)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("import the images into %s: %w", n, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cp := nodes[0]
	for _, n := range nodes {
		if strings.HasSuffix(n.String(), "-control-plane") {
			cp = n
		}
	}
	script := fmt.Sprintf("kubectl --kubeconfig=/etc/kubernetes/admin.conf create namespace %[1]s && kubectl --kubeconfig=/etc/kubernetes/admin.conf label namespace %[1]s pod-security.kubernetes.io/enforce=privileged", o.Namespace)
	var out strings.Builder
	if err := cp.CommandContext(ctx, "sh", "-c", script).SetStdout(&out).SetStderr(&out).Run(); err != nil {
		return fmt.Errorf("namespace %s: %w: %s", o.Namespace, err, out.String())
	}
	if err := hostPodNetwork(ctx, cp, nodes); err != nil {
		return err
	}
	return hostStorage(ctx, cp, nodes)
}

// hostStorage replaces kind's fallback StorageClass (host-path volumes made
// in the controller manager's container, owned by root whatever the pod's
// fsGroup says: PostgreSQL, running as its own user, cannot write to one) with
// local volumes, two on each worker, that a claim binds to when its pod is
// scheduled, and whose files the pod's fsGroup owns, as on a host cluster
// with a storage provisioner.
func hostStorage(ctx context.Context, cp nodes.Node, all []nodes.Node) error {
	manifest := `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
`
	for _, n := range all {
		if n.String() == cp.String() {
			continue
		}
		var out strings.Builder
		if err := n.CommandContext(ctx, "mkdir", "-p", "/var/lib/kindlab-volumes/1", "/var/lib/kindlab-volumes/2").SetStdout(&out).SetStderr(&out).Run(); err != nil {
			return fmt.Errorf("local volumes on %s: %w: %s", n, err, out.String())
		}
		for i := 1; i <= 2; i++ {
			manifest += fmt.Sprintf(`---
apiVersion: v1
kind: PersistentVolume
metadata: {name: %[1]s-%[2]d}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  local: {path: /var/lib/kindlab-volumes/%[2]d}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [%[1]s]}]
`, n, i)
		}
	}
	var out strings.Builder
	err := cp.CommandContext(ctx, "sh", "-c", "kubectl --kubeconfig=/etc/kubernetes/admin.conf delete storageclass --all && kubectl --kubeconfig=/etc/kubernetes/admin.conf apply -f -").
		SetStdin(strings.NewReader(manifest)).SetStdout(&out).SetStderr(&out).Run()
	if err != nil {
		return fmt.Errorf("local volumes: %w: %s", err, out.String())
	}
	return nil
}

// hostPodNetwork gives each node of a host cluster the pod subnet Kubernetes
// assigned it, in place of the node image's one fixed subnet (enough for a
// learner cluster's single node), and routes to the others' subnets, so that
// pods on different nodes reach each other (kindlab's replicas, PostgreSQL,
// CoreDNS) as a network plugin would make them.
func hostPodNetwork(ctx context.Context, cp nodes.Node, all []nodes.Node) error {
	type route struct{ subnet, via string }
	var routes map[string]route
	for try := 0; ; try++ { // a node has its subnet a moment after it joins
		var out strings.Builder
		err := cp.CommandContext(ctx, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "get", "nodes", "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}`).SetStdout(&out).SetStderr(&out).Run()
		if err != nil {
			return fmt.Errorf("the nodes' pod subnets: %w: %s", err, out.String())
		}
		routes = map[string]route{}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if f := strings.Fields(line); len(f) == 3 {
				routes[f[0]] = route{f[1], f[2]}
			}
		}
		if len(routes) == len(all) {
			break
		}
		if try == 30 {
			return fmt.Errorf("the nodes' pod subnets: not every node has one: %s", out.String())
		}
		time.Sleep(time.Second)
	}
	for _, n := range all {
		own := routes[n.String()]
		script := fmt.Sprintf("sed -i 's#10.244.0.0/24#%s#' /etc/cni/net.d/10-kindlab-bridge.conflist", own.subnet)
		for name, r := range routes {
			if name != n.String() {
				script += fmt.Sprintf(" && ip route replace %s via %s", r.subnet, r.via)
			}
		}
		var out strings.Builder
		if err := n.CommandContext(ctx, "sh", "-c", script).SetStdout(&out).SetStderr(&out).Run(); err != nil {
			return fmt.Errorf("pod network on %s: %w: %s", n, err, out.String())
		}
	}
	if routes[cp.String()].subnet != "10.244.0.0/24" {
		// CoreDNS started on the control plane with the image's subnet.
		var out strings.Builder
		script := "kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system rollout restart deployment/coredns" +
			" && kubectl --kubeconfig=/etc/kubernetes/admin.conf -n kube-system rollout status deployment/coredns --timeout=2m"
		if err := cp.CommandContext(ctx, "sh", "-c", script).SetStdout(&out).SetStderr(&out).Run(); err != nil {
			return fmt.Errorf("CoreDNS on the control plane's pod subnet: %w: %s", err, out.String())
		}
	}
	return nil
}

// importBundle streams a bundle file (gzipped when its name ends in .gz) into load.
func importBundle(path string, load func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("bundle %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return load(r)
}

// importImage streams docker save of image into load.
func importImage(ctx context.Context, image string, load func(io.Reader) error) error {
	cmd := exec.CommandContext(ctx, "docker", "save", image)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	lerr := load(out)
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("docker save %s: %w: %s", image, err, stderr.String())
	}
	return lerr
}
