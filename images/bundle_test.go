package images

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeDocker is a Docker engine's image store for the bundle's unit tests: a
// saved "archive" is the line "ARCHIVE" then one tag per line.
type fakeDocker struct {
	mu     sync.Mutex
	images map[string]bool
}

func (d *fakeDocker) Run(ctx context.Context, c Cmd) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case c.Name == "go":
		fmt.Fprintln(c.Stdout, "go1.26.0")
	case c.Name == "docker" && len(c.Args) > 2 && c.Args[0] == "image" && c.Args[1] == "inspect":
		if !d.images[c.Args[len(c.Args)-1]] {
			return errors.New("No such image")
		}
	case c.Name == "docker" && c.Args[0] == "save":
		fmt.Fprintln(c.Stdout, "ARCHIVE")
		for _, t := range c.Args[1:] {
			fmt.Fprintln(c.Stdout, t)
		}
	case c.Name == "docker" && c.Args[0] == "load":
		r := bufio.NewReader(c.Stdin)
		if head, _ := r.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return err
			}
			r = bufio.NewReader(zr)
		}
		sc := bufio.NewScanner(r)
		if !sc.Scan() || sc.Text() != "ARCHIVE" {
			fmt.Fprintln(c.Stderr, "open /var/lib/docker/tmp/docker-import/repositories: no such file or directory")
			return errors.New("exit status 1")
		}
		for sc.Scan() {
			d.images[sc.Text()] = true
			fmt.Fprintln(c.Stdout, "Loaded image: "+sc.Text())
		}
	default:
		return fmt.Errorf("fakeDocker: unexpected %s", c)
	}
	return nil
}

func bundleBuilder(t *testing.T) (*Builder, *fakeDocker, Set) {
	t.Helper()
	wd, _ := os.Getwd()
	src, err := FindSource(wd)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDocker{images: map[string]bool{}}
	b := &Builder{Src: src, Cache: t.TempDir(), Out: io.Discard, Run: d}
	set, err := b.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range append(set.Tags(), set.LabImages()...) {
		d.images[tag] = true
	}
	return b, d, set
}

func TestBundleRoundTrip(t *testing.T) {
	b, d, set := bundleBuilder(t)
	path := filepath.Join(t.TempDir(), "kindlab-images.tar.gz")
	tags, err := b.Save(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	want := append(set.Tags(), set.LabImages()...)
	if !slices.Equal(tags, want) {
		t.Errorf("saved %v; want %v", tags, want)
	}
	if f, err := os.Open(path); err != nil {
		t.Fatal(err)
	} else if _, err := gzip.NewReader(f); err != nil {
		t.Errorf("a .gz bundle is not gzipped: %v", err)
	}
	d.images = map[string]bool{} // another host
	loaded, err := b.Load(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded, want) {
		t.Errorf("loaded %v; want %v", loaded, want)
	}
	for _, tag := range set.Tags() {
		if !d.images[tag] {
			t.Errorf("%s missing after the load", tag)
		}
	}
}

func TestBundleBadInput(t *testing.T) {
	dir := t.TempDir()
	t.Run("an image not built", func(t *testing.T) {
		b, d, set := bundleBuilder(t)
		delete(d.images, set.Apps[0])
		path := filepath.Join(dir, "partial.tar")
		_, err := b.Save(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), set.Apps[0]) || !strings.Contains(err.Error(), "images build") {
			t.Errorf("Save = %v; want an error naming %s and the build", err, set.Apps[0])
		}
		for _, p := range []string{path, path + ".part"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s left behind", p)
			}
		}
	})
	t.Run("a bundle from another version", func(t *testing.T) {
		b, d, set := bundleBuilder(t)
		path := filepath.Join(dir, "old.tar")
		os.WriteFile(path, []byte("ARCHIVE\nkindlab/node:v1.36.0-000000000000\n"), 0o644)
		d.images = map[string]bool{}
		_, err := b.Load(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), "another version") || !strings.Contains(err.Error(), set.Node) {
			t.Errorf("Load = %v; want an error naming the missing %s", err, set.Node)
		}
	})
	t.Run("not a bundle", func(t *testing.T) {
		b, _, _ := bundleBuilder(t)
		path := filepath.Join(dir, "notes.txt")
		os.WriteFile(path, []byte("hello"), 0o644)
		if _, err := b.Load(context.Background(), path); err == nil || !strings.Contains(err.Error(), "not an image bundle") {
			t.Errorf("Load = %v; want not an image bundle", err)
		}
	})
	t.Run("no such file", func(t *testing.T) {
		b, _, _ := bundleBuilder(t)
		if _, err := b.Load(context.Background(), filepath.Join(dir, "missing.tar")); err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load = %v; want not found", err)
		}
	})
}
