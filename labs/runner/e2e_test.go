//go:build e2e

package runner_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kindlab/kindlab/cluster"
	"github.com/kindlab/kindlab/images"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/runner"
	"github.com/kindlab/kindlab/manifests"
)

func manager(t testing.TB) *cluster.Manager {
	t.Helper()
	wd, _ := os.Getwd()
	src, err := images.FindSource(wd)
	if err != nil {
		t.Fatal(err)
	}
	set, err := (&images.Builder{Src: src, Cache: filepath.Join(os.TempDir(), "kindlab-plan"), Run: images.ExecRunner{}}).Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := cluster.New(cluster.Options{NodeImage: set.Node, LabImages: set.LabImages(), KubeconfigDir: t.TempDir(), MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestE2EValidateCatalog runs `kindlab validate` over every built-in lab on real
// clusters: every check fails before its step and passes after it.
func TestE2EValidateCatalog(t *testing.T) {
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	r := &runner.Runner{Clusters: manager(t), Manifests: manifests.FS(), Parallel: 3, Repeat: 2}
	report := r.Run(ctx, cat.Labs)
	var out bytes.Buffer
	report.WriteSummary(&out)
	t.Log("\n" + out.String())
	if report.Failed() {
		t.Errorf("validation failed:\n%s", out.String())
	}
	if len(report.Labs) != len(cat.Labs) {
		t.Errorf("report has %d labs; want %d", len(report.Labs), len(cat.Labs))
	}
	var junit bytes.Buffer
	if err := report.WriteJUnit(&junit); err != nil || !strings.Contains(junit.String(), `<testsuite name="services-dns"`) {
		t.Errorf("JUnit report: %v\n%s", err, junit.String())
	}
}

// TestE2EValidateBrokenLab: the validator reports a check that passes too early, a
// solution that fails, a check that never passes and Run buttons that cannot be
// clicked in order (a command that never ends before a button that is not an
// interrupt), each by lab/step/check, and goes on to the next step.
func TestE2EValidateBrokenLab(t *testing.T) {
	fsys := os.DirFS("testdata/broken")
	lab, probs := labs.ParseLab(fsys, "broken")
	if len(probs) > 0 {
		t.Fatalf("testdata lab does not parse: %v", probs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := &runner.Runner{Clusters: manager(t), Manifests: manifests.FS(), CommandTimeout: 20 * time.Second}
	report := r.Run(ctx, []*labs.Lab{lab})
	var out bytes.Buffer
	report.WriteSummary(&out)
	t.Log("\n" + out.String())
	if !report.Failed() {
		t.Fatal("a broken lab validated")
	}
	for _, want := range []string{
		"broken/01-already-true.md/default-namespace (resource): broken check: passes before",
		`broken/02-failing-solution.md: solution command "kubectl get configmap does-not-exist" exited 1`,
		"broken/03-never-passes.md/pods (pods): did not pass within 5s",
		`broken/04-cannot-go-on.md: command "sleep 600": "sleep 600" did not finish within 20s`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
