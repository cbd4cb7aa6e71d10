//go:build e2e

package images

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestE2EImagesSaveLoad: every image kindlab needs into a gzipped bundle and
// back, through the real Docker engine. The bundle's manifest names every
// tag; an app image whose content tag is gone (as on a host that never built
// it) is there again after the load.
func TestE2EImagesSaveLoad(t *testing.T) {
	wd, _ := os.Getwd()
	src, err := FindSource(wd)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := &Builder{Src: src, Cache: filepath.Join(os.TempDir(), "kindlab-bundle-test"), Out: io.Discard, Run: ExecRunner{}}
	set, err := b.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kindlab-images.tar.gz")
	start := time.Now()
	tags, err := b.Save(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	t.Logf("saved %d images, %d MB gzipped, in %s", len(tags), st.Size()>>20, time.Since(start).Round(100*time.Millisecond))
	inBundle := bundleTags(t, path)
	for _, tag := range append(set.Tags(), set.LabImages()...) {
		if !slices.Contains(inBundle, tag) {
			t.Errorf("the bundle's manifest lacks %s (it has %v)", tag, inBundle)
		}
	}

	gone := set.Apps[0]
	t.Cleanup(func() { // whatever happened, leave the engine with every image
		if !b.exists(ctx, gone) {
			b.Build(ctx)
		}
	})
	if out, err := output(ctx, b.Run, "docker", "rmi", gone); err != nil {
		t.Fatalf("docker rmi %s: %v %s", gone, err, out)
	}
	start = time.Now()
	loaded, err := b.Load(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d images in %s", len(loaded), time.Since(start).Round(100*time.Millisecond))
	if !b.exists(ctx, gone) || !slices.Contains(loaded, gone) {
		t.Errorf("%s: after the load exists %v, loaded %v", gone, b.exists(ctx, gone), loaded)
	}
}

// bundleTags reads the tags a gzipped docker save archive's manifest.json names.
func bundleTags(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in the bundle: %v", err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, m := range manifest {
			tags = append(tags, m.RepoTags...)
		}
		return tags
	}
}
