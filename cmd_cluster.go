package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/images"
)

// resolveImages finds the images to use: from the source tree's content tags when run
// from the repository, else the newest node image built on this host.
func resolveImages(ctx context.Context, nodeImage string) (images.Set, error) {
	if nodeImage != "" {
		return images.Set{Node: nodeImage}, nil
	}
	if wd, err := os.Getwd(); err == nil {
		if src, err := images.FindSource(wd); err == nil {
			b := &images.Builder{Src: src, Cache: defaultCache(), Run: images.ExecRunner{}}
			return b.Plan(ctx)
		}
	}
	var out bytes.Buffer
	err := cluster.DockerCLI{}.Run(ctx, &out, "images", "--filter", "label=org.kindlab.kube-version", "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return images.Set{}, err
	}
	if f := strings.Fields(out.String()); len(f) > 0 {
		return images.Set{Node: f[0]}, nil
	}
	return images.Set{}, errors.New("no kindlab node image on this host: run kindlab images build from the source tree")
}

// manager parses the backend's flags (with fs's own) and returns the backend:
// a host cluster's when --host-cluster is set, else the local Docker engine's.
func (c *cli) manager(fs *flag.FlagSet, args []string) (cluster.Backend, images.Set, error) {
	image := fs.String("image", os.Getenv("KINDLAB_NODE_IMAGE"), "kind node image (default: built from this source tree)")
	state := fs.String("state", cluster.DefaultStateDir(), "state folder (kubeconfig files, database)")
	host := fs.String("host-cluster", os.Getenv("KINDLAB_HOST_CLUSTER"), "run learner clusters in pods of this Kubernetes cluster: a kubeconfig file, or in-cluster (default: $KINDLAB_HOST_CLUSTER; empty: this host's Docker engine)")
	namespace := fs.String("host-namespace", "kindlab-clusters", "with --host-cluster: the namespace of learner cluster pods (labelled pod-security.kubernetes.io/enforce=privileged)")
	dind := fs.String("dind-image", os.Getenv("KINDLAB_DIND_IMAGE"), "with --host-cluster: the Docker-in-Docker image on the host cluster's nodes (default: built from this source tree)")
	cpu := fs.String("host-cpu", "500m", "with --host-cluster: CPU each learner cluster pod requests")
	memory := fs.String("host-memory", "1Gi", "with --host-cluster: memory each learner cluster pod requests")
	learnerMemory := fs.String("learner-memory", resource.NewQuantity(cluster.DefaultBudget.Memory, resource.BinarySI).String(),
		"memory each learner cluster's node may use, enforced outside the cluster (0: no limit)")
	learnerCPU := fs.String("learner-cpu", strconv.FormatFloat(cluster.DefaultBudget.CPUs, 'f', -1, 64),
		"CPU cores each learner cluster's node may use, enforced outside the cluster (0: no limit)")
	learnerDisk := fs.String("learner-disk", resource.NewQuantity(cluster.DefaultBudget.Disk, resource.BinarySI).String(),
		"disk each learner's pods may hold in all (writable layers, logs, emptyDir volumes); kindlab deletes the pod holding the most past it (0: only the namespaces' quotas)")
	if err := fs.Parse(args); err != nil {
		return nil, images.Set{}, flagError(err)
	}
	budget, err := cluster.ParseBudget(*learnerMemory, *learnerCPU, *learnerDisk)
	if err != nil {
		return nil, images.Set{}, usageError{err.Error()}
	}
	set, err := resolveImages(c.ctx, *image)
	if err != nil && (*host == "" || *dind == "") {
		// On a host cluster the Docker-in-Docker image names its node image
		// itself: kindlab running in a pod has no images of its own.
		return nil, set, err
	}
	kubeconfigs := filepath.Join(*state, "kubeconfig")
	if *host == "" {
		m, err := cluster.New(cluster.Options{
			NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: kubeconfigs,
			MaxConcurrent: 2, Logger: c.log, Budget: budget,
		})
		return m, set, err
	}
	if *dind != "" {
		set.Dind = *dind
	}
	if set.Dind == "" {
		return nil, set, errors.New("--host-cluster needs the Docker-in-Docker image: run kindlab from the source tree after kindlab images build, or name it with --dind-image")
	}
	cfg, err := cluster.HostConfig(*host)
	if err != nil {
		return nil, set, err
	}
	h, err := cluster.NewHosted(cluster.HostedOptions{
		Config: cfg, Namespace: *namespace, Image: set.Dind, NodeImage: set.Node, KubeconfigDir: kubeconfigs,
		CPU: *cpu, Memory: *memory, Logger: c.log, Budget: budget,
	})
	if err != nil {
		return nil, set, err
	}
	if err := h.Check(c.ctx); err != nil {
		return nil, set, err
	}
	return h, set, nil
}

func (c *cli) cluster(args []string) error {
	if len(args) == 0 {
		return usageError{"cluster: want create, delete, list, kubeconfig or host"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	if sub == "host" {
		return c.hostCluster(fs, args[1:])
	}
	m, _, err := c.manager(fs, args[1:])
	if err != nil {
		return err
	}
	names := fs.Args()
	need := func() error {
		if len(names) == 0 {
			return usageError{"cluster " + sub + ": want a cluster name"}
		}
		return nil
	}
	switch sub {
	case "create":
		if err := need(); err != nil {
			return err
		}
		for _, n := range names {
			start := time.Now()
			cl, err := m.Create(c.ctx, n)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "created %s in %s\n  kubeconfig: %s\n  NodePort %d answers on 127.0.0.1:%d\n",
				cl.Name, time.Since(start).Round(100*time.Millisecond), cl.Kubeconfig, cluster.NodePort, cl.NodePort)
		}
	case "delete":
		if err := need(); err != nil {
			return err
		}
		for _, n := range names {
			if err := m.Delete(c.ctx, n); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "deleted %s\n", n)
		}
	case "list":
		list, err := m.List(c.ctx)
		if err != nil {
			return err
		}
		for _, n := range list {
			fmt.Fprintln(c.stdout, n)
		}
	case "kubeconfig":
		if err := need(); err != nil {
			return err
		}
		kc, err := m.Kubeconfig(c.ctx, names[0])
		if err != nil {
			return err
		}
		fmt.Fprint(c.stdout, kc)
	default:
		return usageError{fmt.Sprintf("cluster: unknown subcommand %q", sub)}
	}
	return nil
}

// hostCluster creates a kind cluster with workers on this host that stands in
// for a host Kubernetes cluster: kindlab serve --host-cluster KUBECONFIG then
// runs learner clusters in its pods.
func (c *cli) hostCluster(fs *flag.FlagSet, args []string) error {
	workers := fs.Int("workers", 2, "worker nodes")
	namespace := fs.String("namespace", "kindlab-clusters", "namespace for learner cluster pods, labelled for privileged pods")
	state := fs.String("state", cluster.DefaultStateDir(), "state folder (kubeconfig files)")
	bundle := fs.String("images", "", "import the images from this bundle (kindlab images save --host-cluster FILE) instead of this host's Docker engine")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 1 {
		return usageError{"cluster host: want one cluster name"}
	}
	set, err := resolveImages(c.ctx, "")
	if err != nil {
		return err
	}
	if set.Dind == "" {
		return errors.New("cluster host: run it from the source tree after kindlab images build (it needs the Docker-in-Docker image)")
	}
	m, err := cluster.New(cluster.Options{NodeImage: set.Node, KubeconfigDir: filepath.Join(*state, "kubeconfig"), Logger: c.log})
	if err != nil {
		return err
	}
	start := time.Now()
	kc, err := m.CreateHost(c.ctx, fs.Arg(0), cluster.HostOptions{Workers: *workers, Namespace: *namespace, Image: set.Dind, Bundle: *bundle})
	if err != nil {
		return err
	}
	from := set.Dind
	if *bundle != "" {
		from = *bundle
	}
	fmt.Fprintf(c.stdout, "created host cluster %s (%d workers, images from %s) in %s\n  try: kindlab serve --host-cluster %s --host-namespace %s\n",
		fs.Arg(0), *workers, from, time.Since(start).Round(100*time.Millisecond), kc, *namespace)
	return nil
}

func (c *cli) doctor(args []string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	image := fs.String("image", os.Getenv("KINDLAB_NODE_IMAGE"), "kind node image to try")
	state := fs.String("state", cluster.DefaultStateDir(), "state folder (where make capacity leaves the measured capacity)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	set, err := resolveImages(c.ctx, *image)
	if err != nil {
		set.Node = "kindlab/node:" + images.KubeVersion
	}
	r := cluster.Doctor(c.ctx, cluster.LocalHost(*state), set.Node)
	r.Print(c.stdout)
	if !r.OK() {
		return errSilent
	}
	fmt.Fprintf(c.stdout, "this host can run about %d learner clusters\n", r.Fit)
	return nil
}
