package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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

func (c *cli) manager(fs *flag.FlagSet, args []string) (*cluster.Manager, images.Set, error) {
	image := fs.String("image", os.Getenv("KINDLAB_NODE_IMAGE"), "kind node image (default: built from this source tree)")
	state := fs.String("state", cluster.DefaultStateDir(), "state folder (kubeconfig files, database)")
	if err := fs.Parse(args); err != nil {
		return nil, images.Set{}, flagError(err)
	}
	set, err := resolveImages(c.ctx, *image)
	if err != nil {
		return nil, set, err
	}
	m, err := cluster.New(cluster.Options{
		NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: filepath.Join(*state, "kubeconfig"),
		MaxConcurrent: 2, Logger: c.log,
	})
	return m, set, err
}

func (c *cli) cluster(args []string) error {
	if len(args) == 0 {
		return usageError{"cluster: want create, delete, list or kubeconfig"}
	}
	sub := args[0]
	fs := flag.NewFlagSet("cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
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
