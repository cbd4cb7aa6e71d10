package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestContentHash(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/x.txt", "one")
	write("a/y.txt", "two")
	h1, err := contentHash(dir, []string{"a"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if h2, _ := contentHash(dir, []string{"a"}, "v1"); h2 != h1 {
		t.Errorf("hash not stable: %s then %s", h1, h2)
	}
	if len(h1) != 12 {
		t.Errorf("hash %q has %d characters; want 12", h1, len(h1))
	}
	tests := []struct {
		name   string
		change func()
		extra  string
	}{
		{name: "content", change: func() { write("a/x.txt", "ONE") }, extra: "v1"},
		{name: "new file", change: func() { write("a/z.txt", "") }, extra: "v1"},
		{name: "executable bit", change: func() { os.Chmod(filepath.Join(dir, "a/y.txt"), 0o755) }, extra: "v1"},
		{name: "extra string", change: func() {}, extra: "v2"},
	}
	prev := h1
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			h, err := contentHash(dir, []string{"a"}, tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			if h == prev {
				t.Errorf("hash unchanged after changing the %s", tt.name)
			}
			prev = h
		})
	}
	if _, err := contentHash(dir, []string{"missing"}); err == nil {
		t.Error("contentHash of a missing input = nil error; want one")
	}
}

func TestExecuteOrderAndSkips(t *testing.T) {
	var mu sync.Mutex
	var order []string
	var cpuNow, cpuMax atomic.Int32
	mk := func(name string, cpu, upToDate bool, deps ...string) *step {
		return &step{name: name, cpu: cpu, deps: deps,
			done: func(context.Context) bool { return upToDate },
			run: func(ctx context.Context, log io.Writer) error {
				if cpu {
					n := cpuNow.Add(1)
					for {
						m := cpuMax.Load()
						if n <= m || cpuMax.CompareAndSwap(m, n) {
							break
						}
					}
					defer cpuNow.Add(-1)
				}
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return nil
			}}
	}
	var out bytes.Buffer
	b := &Builder{Cache: t.TempDir(), Out: &out, Tick: time.Hour}
	err := b.execute(context.Background(), []*step{
		mk("final", false, false, "compile-a", "compile-b", "fetch"),
		mk("compile-a", true, false),
		mk("compile-b", true, false),
		mk("cached", true, true),
		mk("fetch", false, false, "cached"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := order[len(order)-1]; got != "final" {
		t.Errorf("last step = %s; want final (order %v)", got, order)
	}
	for _, o := range order {
		if o == "cached" {
			t.Error("an up-to-date step ran")
		}
	}
	if cpuMax.Load() != 1 {
		t.Errorf("%d CPU-bound steps ran at once; want 1", cpuMax.Load())
	}
	if !strings.Contains(out.String(), "cached") || !strings.Contains(out.String(), "up to date") {
		t.Errorf("progress does not report the up-to-date step:\n%s", out.String())
	}
}

func TestExecuteFailureShowsLogAndFix(t *testing.T) {
	var out bytes.Buffer
	b := &Builder{Cache: t.TempDir(), Out: &out, Tick: time.Hour}
	ran := false
	err := b.execute(context.Background(), []*step{
		{name: "rootfs", run: func(ctx context.Context, log io.Writer) error {
			for i := 0; i < 50; i++ {
				fmt.Fprintf(log, "line %d\n", i)
			}
			fmt.Fprintln(log, "docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
			return errors.New("exit status 1")
		}},
		{name: "after", deps: []string{"rootfs"}, run: func(context.Context, io.Writer) error { ran = true; return nil }},
	})
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("execute = %v; want a *StepError", err)
	}
	if se.Step != "rootfs" || !strings.Contains(se.Fix, "hack/ensure-docker.sh") {
		t.Errorf("StepError = step %q fix %q; want rootfs and the Docker fix", se.Step, se.Fix)
	}
	if !strings.Contains(se.Tail, "Cannot connect") || strings.Contains(se.Tail, "line 1\n") {
		t.Errorf("Tail should hold the last lines only:\n%s", se.Tail)
	}
	if ran {
		t.Error("a step that depends on a failed step ran")
	}
	if !strings.Contains(out.String(), "FAILED") {
		t.Errorf("progress does not say FAILED:\n%s", out.String())
	}
}

func TestLabTagAndLDFlags(t *testing.T) {
	if got := labTag("kindlab/homepage:0123456789ab"); got != "kindlab/homepage:lab" {
		t.Errorf("labTag = %q", got)
	}
	f := kubeLDFlags()
	for _, want := range []string{"k8s.io/component-base/version.gitVersion=" + KubeVersion, "gitMinor=37", "k8s.io/client-go/pkg/version.gitVersion="} {
		if !strings.Contains(f, want) {
			t.Errorf("kubeLDFlags() = %q; missing %q (kubeadm refuses unversioned binaries)", f, want)
		}
	}
}

func TestFindSource(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/kindlab/kindlab\n\ngo 1.26\n"), 0o644)
	deep := filepath.Join(root, "a", "b")
	os.MkdirAll(deep, 0o755)
	if got, err := FindSource(deep); err != nil || got != root {
		t.Errorf("FindSource(%s) = %q, %v; want %q", deep, got, err, root)
	}
	if _, err := FindSource(t.TempDir()); !errors.Is(err, ErrNoSource) {
		t.Errorf("FindSource(elsewhere) error = %v; want ErrNoSource", err)
	}
}
