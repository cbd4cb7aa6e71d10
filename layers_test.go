package main

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// layers are the project's packages by layer, top to bottom, as
// docs/architecture.md draws them: a package imports only packages of lower
// layers. The programs images builds (images/...) and hack/ are their own.
var layers = [][]string{
	{""}, // the kindlab CLI
	{"server"},
	{"web", "labs/runner", "images"},
	{"server/session", "server/workshop"},
	{"server/terminal", "server/store"},
	{"server/activity"},
	{"cluster/platform"},
	{"cluster"},
	{"workstation", "labs/check"},
	{"labs"},
	{"labs/cmdline", "internal/clock", "internal/shellmark", "internal/podstatus", "internal/proxylimit", "manifests", "static"},
}

// helpers are test helpers, held to the layer of the package they fake.
var helpers = map[string]string{"server/session/sessiontest": "server/session", "server/store/storetest": "server/store"}

const module = "github.com/kindlab/kindlab"

// TestLayers: no package imports one of its own layer or above, and every
// package of the project has a layer.
func TestLayers(t *testing.T) {
	layer := map[string]int{}
	for i, pkgs := range layers {
		for _, p := range pkgs {
			layer[p] = i
		}
	}
	for h, of := range helpers {
		layer[h] = layer[of]
	}
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); dir != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") ||
			strings.HasPrefix(dir, "images/") || strings.HasPrefix(dir, "hack") || dir == "bin" {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(dir, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		} else if err != nil {
			return err
		}
		path := filepath.ToSlash(dir)
		if path == "." {
			path = ""
		}
		mine, ok := layer[path]
		if !ok {
			t.Errorf("package %q has no layer: add it to layers (and docs/architecture.md)", path)
			return nil
		}
		for _, imp := range pkg.Imports {
			rel, ours := strings.CutPrefix(imp, module+"/")
			if !ours {
				continue
			}
			if theirs, ok := layer[rel]; ok && theirs <= mine {
				t.Errorf("%s (layer %d) imports %s (layer %d): an arrow up or across", path, mine+1, rel, theirs+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
