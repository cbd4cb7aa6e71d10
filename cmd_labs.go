package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/runner"
	"github.com/kindlab/kindlab/manifests"
)

// loadCatalog loads the built-in labs. With dir set, the labs come from dir/labs
// (one folder per lab; dir/labs/catalog in kindlab's own tree) and their files
// from dir/manifests; the platform objects are always kindlab's own.
func loadCatalog(dir string) (*labs.Catalog, *catalogFS, error) {
	fsys := &catalogFS{labs: labs.Builtin(), manifests: manifests.FS()}
	if dir != "" {
		labsDir := filepath.Join(dir, "labs")
		if info, err := os.Stat(filepath.Join(labsDir, "catalog")); err == nil && info.IsDir() {
			labsDir = filepath.Join(labsDir, "catalog")
		}
		labsFS, err := rootFS(labsDir)
		if err != nil {
			return nil, nil, err
		}
		manifestsFS, err := rootFS(filepath.Join(dir, "manifests"))
		if err != nil {
			return nil, nil, err
		}
		fsys = &catalogFS{labs: labsFS, manifests: manifests.WithPlatform(manifestsFS)}
	}
	cat, err := labs.LoadCatalog(fsys.labs, fsys.manifests)
	return cat, fsys, err
}

// rootFS is the files under dir, refusing any path (a symlink, "..") that
// leads out of it: a lab folder cannot hand a learner's cluster or page the
// host's files. It stays open for the process's life.
func rootFS(dir string) (iofs.FS, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	return r.FS(), nil
}

type catalogFS struct{ labs, manifests iofs.FS }

func (c *cli) lint(args []string) error {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dir := fs.String("dir", "", "lint labs from this source tree instead of the built-in catalog")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	cat, _, err := loadCatalog(*dir)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return errSilent
	}
	steps := 0
	for _, l := range cat.Labs {
		steps += len(l.Steps)
	}
	fmt.Fprintf(c.stdout, "%d labs, %d steps: no problems\n", len(cat.Labs), steps)
	return nil
}

func (c *cli) validate(args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dir := fs.String("dir", "", "validate labs from this source tree instead of the built-in catalog")
	junit := fs.String("junit", "", "write a JUnit XML report to `file`")
	jsonOut := fs.String("json", "", "write a JSON report to `file` (- for stdout)")
	repeat := fs.Int("repeat", 1, "evaluate each check `N` times after it passes, to find flaky checks")
	parallel := fs.Int("parallel", 0, "labs at once, their clusters made one at a time (default 3)")
	keep := fs.Bool("keep", false, "keep the clusters after the run")
	m, _, err := c.manager(fs, args)
	if err != nil {
		return err
	}
	cat, fsys, err := loadCatalog(*dir)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return errSilent
	}
	var toRun []*labs.Lab
	var unknown []string
	for _, id := range fs.Args() {
		l, ok := cat.Lab(id)
		if !ok {
			unknown = append(unknown, id)
			continue
		}
		toRun = append(toRun, l)
	}
	if len(unknown) > 0 {
		var ids []string
		for _, l := range cat.Labs {
			ids = append(ids, l.ID)
		}
		return usageError{fmt.Sprintf("validate: no lab %s (labs: %s)", strings.Join(unknown, ", "), strings.Join(ids, ", "))}
	}
	if len(fs.Args()) == 0 {
		toRun = cat.Labs
	}
	if *parallel <= 0 {
		*parallel = 3
	}
	r := &runner.Runner{Clusters: m, Manifests: fsys.manifests, Parallel: *parallel, Repeat: *repeat, Log: c.log, Keep: *keep}
	report := r.Run(c.ctx, toRun)
	report.WriteSummary(c.stdout)
	if *junit != "" {
		if err := writeFile(*junit, report.WriteJUnit); err != nil {
			return err
		}
	}
	if *jsonOut == "-" {
		if err := report.WriteJSON(c.stdout); err != nil {
			return err
		}
	} else if *jsonOut != "" {
		if err := writeFile(*jsonOut, report.WriteJSON); err != nil {
			return err
		}
	}
	if report.Failed() {
		return errors.New("validation failed")
	}
	return nil
}

func writeFile(path string, write func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
