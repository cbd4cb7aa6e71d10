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

	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// hostConfig is the kind configuration of a stand-in host cluster: a control
// plane and workers, the node image's static bridge CNI (nothing crosses
// nodes: kindlab reaches learner cluster pods through the API), Pod Security
// admission at its defaults (the namespace of learner clusters is labelled
// privileged).
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
