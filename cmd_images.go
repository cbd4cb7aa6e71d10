package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kindlab/kindlab/images"
)

// defaultCache is where build outputs and logs live between runs.
func defaultCache() string {
	if d := os.Getenv("KINDLAB_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kindlab")
	}
	return filepath.Join(os.TempDir(), "kindlab-cache")
}

func (c *cli) builder(fs *flag.FlagSet, args []string) (*images.Builder, bool, error) {
	src := fs.String("src", "", "kindlab source tree (default: found from the working directory)")
	cache := fs.String("cache", defaultCache(), "build cache folder")
	force := fs.Bool("force", false, "rebuild images even when their content tag exists")
	host := fs.Bool("host-cluster", false, "save: the images a host cluster's nodes need (the Docker-in-Docker image, kindlab's own when built) instead")
	if err := fs.Parse(args); err != nil {
		return nil, false, flagError(err)
	}
	if *src == "" {
		wd, _ := os.Getwd()
		s, err := images.FindSource(wd)
		if err != nil {
			return nil, false, err
		}
		*src = s
	}
	if err := os.MkdirAll(*cache, 0o755); err != nil {
		return nil, false, fmt.Errorf("cache folder: %w", err)
	}
	return &images.Builder{Src: *src, Cache: *cache, Out: c.stdout, Run: images.ExecRunner{}, Force: *force}, *host, nil
}

func (c *cli) images(args []string) error {
	if len(args) == 0 {
		return usageError{"images: want build, list, save FILE or load FILE"}
	}
	fs := flag.NewFlagSet("images "+args[0], flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	b, host, err := c.builder(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "build":
		start := time.Now()
		set, err := b.Build(c.ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "images ready in %s:\n  %s\n  %s\n  %s\n", time.Since(start).Round(100*time.Millisecond), set.Node, set.Dind, set.Toolbox)
		for _, a := range set.Apps {
			fmt.Fprintf(c.stdout, "  %s\n", a)
		}
		return nil
	case "save", "load":
		if fs.NArg() != 1 {
			return usageError{"images " + args[0] + ": want one FILE (a .gz name is gzipped)"}
		}
		file := fs.Arg(0)
		start := time.Now()
		if args[0] == "save" {
			save := b.Save
			if host {
				save = b.SaveHost
			}
			tags, err := save(c.ctx, file)
			if err != nil {
				return err
			}
			st, _ := os.Stat(file)
			fmt.Fprintf(c.stdout, "saved %d images to %s (%d MB) in %s\n", len(tags), file, st.Size()>>20, time.Since(start).Round(100*time.Millisecond))
			return nil
		}
		loaded, err := b.Load(c.ctx, file)
		for _, l := range loaded {
			fmt.Fprintf(c.stdout, "  %s\n", l)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "loaded %d images from %s in %s; every image this kindlab needs is here\n", len(loaded), file, time.Since(start).Round(100*time.Millisecond))
		return nil
	case "list":
		set, err := b.Plan(c.ctx)
		if err != nil {
			return err
		}
		for _, s := range append([]string{set.Node, set.Dind, set.Toolbox}, set.Apps...) {
			fmt.Fprintln(c.stdout, s)
		}
		return nil
	}
	return usageError{fmt.Sprintf("images: unknown subcommand %q", args[0])}
}
