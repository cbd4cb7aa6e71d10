package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeAuthorLab writes a one-step lab into a folder of its own, as a lab author
// outside kindlab's tree has it: labs/<id> and manifests/<id>, nothing else.
func writeAuthorLab(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"labs/hello-cm/lab.yaml": `id: hello-cm
title: Hello, ConfigMap
summary: Apply a ConfigMap from a file of the lab.
duration: 5m
files:
  - hello-cm/hello.yaml
setup:
  - hello-cm/settings.yaml
steps:
  - 01-apply.md
  - 02-fix.md
`,
		"labs/hello-cm/01-apply.md": "---\n" + `title: Apply the ConfigMap
checks:
  - id: hello-exists
    kind: resource
    apiVersion: v1
    resource: configmaps
    name: hello
solution:
  - kubectl apply -f hello.yaml
---
Apply the file the lab copied into your home folder:

` + "```bash run\nkubectl apply -f hello.yaml\n```\n",
		"labs/hello-cm/02-fix.md": "---\n" + `title: Fix what the lab broke
setup:
  - hello-cm/extra.yaml
checks:
  - id: settings-fixed
    kind: resource
    apiVersion: v1
    resource: configmaps
    name: settings
    fields:
      - path: '{.data.mode}'
        equals: fixed
  - id: extra-fixed
    kind: resource
    apiVersion: v1
    resource: configmaps
    name: extra
    fields:
      - path: '{.data.mode}'
        equals: fixed
---
The lab set two ConfigMaps up broken, one when it started and one when this step did:

` + "```bash run\nkubectl patch configmap settings -p '{\"data\":{\"mode\":\"fixed\"}}'\n```\n\n" +
			"```bash run\nkubectl patch configmap extra -p '{\"data\":{\"mode\":\"fixed\"}}'\n```\n",
		"manifests/hello-cm/hello.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: hi\n",
		"manifests/hello-cm/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: broken\n",
		"manifests/hello-cm/extra.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  mode: broken\n",
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLintAuthorFolder: an author's folder holding only labs/<id> and
// manifests/<id> lints; kindlab's own tree (labs/catalog) still does, and a
// broken lab in such a folder is reported with its file.
func TestLintAuthorFolder(t *testing.T) {
	dir := writeAuthorLab(t)
	broken := writeAuthorLab(t)
	os.Remove(filepath.Join(broken, "manifests/hello-cm/hello.yaml"))
	noSetup := writeAuthorLab(t)
	os.Remove(filepath.Join(noSetup, "manifests/hello-cm/extra.yaml"))
	tests := []struct {
		name     string
		dir      string
		wantCode int
		wantOut  string
	}{
		{name: "author's folder", dir: dir, wantOut: "1 labs, 2 steps: no problems"},
		{name: "kindlab's own tree", dir: ".", wantOut: "4 labs"},
		{name: "a file the lab lists is missing", dir: broken, wantCode: 1, wantOut: "hello-cm/hello.yaml"},
		{name: "a step's setup is missing", dir: noSetup, wantCode: 1, wantOut: "hello-cm/02-fix.md:1: setup: hello-cm/extra.yaml is not a file under manifests/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"lint", "--dir", tt.dir}, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) {
				t.Errorf("lint --dir = %d, %q; want %d with %q", code, out, tt.wantCode, tt.wantOut)
			}
		})
	}
}

// TestAuthorFolderGetsKindlabsPlatform: the platform objects come from kindlab,
// whatever the author's folder holds.
func TestAuthorFolderGetsKindlabsPlatform(t *testing.T) {
	dir := writeAuthorLab(t)
	os.MkdirAll(filepath.Join(dir, "manifests/platform"), 0o755)
	os.WriteFile(filepath.Join(dir, "manifests/platform/evil.yaml"), []byte("kind: ClusterRoleBinding\n"), 0o644)
	_, fsys, err := loadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.manifests.Open("platform/workstation.yaml"); err != nil {
		t.Errorf("kindlab's workstation is not there: %v", err)
	}
	if _, err := fsys.manifests.Open("platform/evil.yaml"); err == nil {
		t.Error("the author's folder added a platform object")
	}
	if _, err := fsys.manifests.Open("hello-cm/hello.yaml"); err != nil {
		t.Errorf("the lab's own file is not there: %v", err)
	}
}

// TestAuthorFolderRefusesSymlinksOut: a lab file that is a symlink out of the
// author's folder (to the host's files) is refused, naming the file; one that
// stays inside the folder is fine.
func TestAuthorFolderRefusesSymlinksOut(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.yaml")
	os.WriteFile(secret, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  stolen: yes\n"), 0o644)
	out := writeAuthorLab(t)
	os.Remove(filepath.Join(out, "manifests/hello-cm/hello.yaml"))
	if err := os.Symlink(secret, filepath.Join(out, "manifests/hello-cm/hello.yaml")); err != nil {
		t.Fatal(err)
	}
	in := writeAuthorLab(t)
	os.Rename(filepath.Join(in, "manifests/hello-cm/hello.yaml"), filepath.Join(in, "manifests/hello-cm/real.yaml"))
	os.Symlink("real.yaml", filepath.Join(in, "manifests/hello-cm/hello.yaml"))

	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"lint", "--dir", out}, &stdout, &stderr)
	if msg := stdout.String() + stderr.String(); code == 0 || !strings.Contains(msg, "hello-cm/hello.yaml") {
		t.Errorf("lint of a folder whose lab file links out of it = %d, %q; want it refused, naming the file", code, msg)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"lint", "--dir", in}, &stdout, &stderr); code != 0 {
		t.Errorf("lint of a folder with a symlink inside it = %d, %q; want it fine", code, stdout.String()+stderr.String())
	}
}
