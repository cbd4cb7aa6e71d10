package images

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// A bundle carries every image kindlab needs to a host with no registry and no
// time to build them: Save on a host that built them, Load on the other. It is
// one `docker save` archive, gzipped when its name ends in .gz.

// Tags are the content tags of the set: the node, the toolbox and the apps.
func (s Set) Tags() []string {
	return append([]string{s.Node, s.Toolbox}, s.Apps...)
}

// Save writes the images the source tree's plan names, and their stable lab
// tags, to path, and returns the tags it holds. Every image must be built.
func (b *Builder) Save(ctx context.Context, path string) ([]string, error) {
	set, err := b.Plan(ctx)
	if err != nil {
		return nil, err
	}
	var tags, missing []string
	for _, t := range set.Tags() {
		if !b.exists(ctx, t) {
			missing = append(missing, t)
		}
		tags = append(tags, t)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("save: not built yet: %s (run kindlab images build first)", strings.Join(missing, ", "))
	}
	for _, t := range set.LabImages() {
		if b.exists(ctx, t) {
			tags = append(tags, t)
		}
	}
	return tags, b.write(ctx, path, tags)
}

// ServerImage is kindlab's own image (make platform-image), which
// manifests/kindlab runs.
const ServerImage = "kindlab/server"

// SaveHost writes the images a host cluster's nodes need to path: the
// Docker-in-Docker image learner clusters run in (it carries the node image),
// by its content tag and kindlab/dind:lab, the PostgreSQL image and kindlab's
// own image (when built: make platform-image) that manifests/kindlab runs. The archive is what `ctr -n k8s.io images import` takes on a node;
// `kindlab cluster host --images` imports it into a stand-in host cluster.
func (b *Builder) SaveHost(ctx context.Context, path string) ([]string, error) {
	set, err := b.Plan(ctx)
	if err != nil {
		return nil, err
	}
	tags := []string{set.Dind, labTag(set.Dind), set.Postgres, labTag(set.Postgres)}
	for _, t := range tags {
		if !b.exists(ctx, t) {
			return nil, fmt.Errorf("save: not built yet: %s (run kindlab images build first)", t)
		}
	}
	if b.exists(ctx, ServerImage) {
		tags = append(tags, ServerImage)
	}
	return tags, b.write(ctx, path, tags)
}

// write saves tags to path, through a temporary file that replaces path only
// when complete.
func (b *Builder) write(ctx context.Context, path string, tags []string) error {
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	err = b.saveTo(ctx, f, strings.HasSuffix(path, ".gz"), tags)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

func (b *Builder) saveTo(ctx context.Context, w io.Writer, gz bool, tags []string) error {
	var zw *gzip.Writer
	if gz {
		zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed) // the layers are mostly compressed binaries already
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var stderr bytes.Buffer
	if err := b.Run.Run(ctx, Cmd{Name: "docker", Args: append([]string{"save"}, tags...), Stdout: bw, Stderr: &stderr}); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

// Load loads the bundle at path into the Docker engine and returns the images
// it loaded (as docker load names them). A bundle that leaves any image of the
// source tree's plan missing (saved from another version of kindlab) is an
// error that names them.
func (b *Builder) Load(ctx context.Context, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	var stdout, stderr bytes.Buffer
	if err := b.Run.Run(ctx, Cmd{Name: "docker", Args: []string{"load"}, Stdin: bufio.NewReaderSize(f, 1<<20), Stdout: &stdout, Stderr: &stderr}); err != nil {
		return nil, fmt.Errorf("load %s: not an image bundle, or a damaged one: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var loaded []string
	for line := range strings.Lines(stdout.String()) {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "Loaded image: "); ok {
			loaded = append(loaded, name)
		}
	}
	set, err := b.Plan(ctx)
	if err != nil {
		return loaded, err
	}
	var missing []string
	for _, t := range set.Tags() {
		if !b.exists(ctx, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return loaded, errors.New("load: the bundle is from another version of kindlab; still missing: " + strings.Join(missing, ", ") +
			" (save a bundle from this version, or run kindlab images build)")
	}
	return loaded, nil
}

func (b *Builder) exists(ctx context.Context, tag string) bool {
	return b.Run.Run(ctx, Cmd{Name: "docker", Args: []string{"image", "inspect", "--format", "{{.Id}}", tag}}) == nil
}
