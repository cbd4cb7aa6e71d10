//go:build e2e

package runner_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlab/kindlab/cluster/platform"
	"github.com/kindlab/kindlab/labs"
	"github.com/kindlab/kindlab/labs/check"
	"github.com/kindlab/kindlab/labs/runner"
	"github.com/kindlab/kindlab/manifests"
	"github.com/kindlab/kindlab/workstation"
)

// BenchmarkCheckLatencyCluster: from a change on a real API server (a ConfigMap
// created) to the Watcher's passing result (ms/check), with the default debounce.
func BenchmarkCheckLatencyCluster(b *testing.B) {
	m := manager(b)
	ctx := context.Background()
	c, err := m.Create(ctx, "bench-checks")
	if err != nil {
		b.Fatal(err)
	}
	defer m.Delete(ctx, c.Name)
	conn, err := workstation.Connect(c.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cs, engine := conn.Client, platform.Checks(conn)
	checks := []labs.Check{{ID: "cm", Kind: labs.KindResource, Resource: &labs.ResourceCheck{APIVersion: "v1", Resource: "configmaps", Name: "bench"}}}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		wctx, cancel := context.WithCancel(ctx)
		out := make(chan []check.Result, 4)
		go (&check.Watcher{Engine: engine}).Watch(wctx, check.StepState{Namespace: "default"}, checks, out)
		if r := <-out; r[0].Status == check.Pass {
			b.Fatal("check passes before the change")
		}
		start := time.Now()
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for r := range out {
			if r[0].Status == check.Pass {
				break
			}
		}
		total += time.Since(start)
		cancel()
		cs.CoreV1().ConfigMaps("default").Delete(ctx, "bench", metav1.DeleteOptions{})
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/check")
}

// BenchmarkValidateLab reports validate's wall time per lab (s/lab), one lab at a time.
func BenchmarkValidateLab(b *testing.B) {
	cat, err := labs.LoadCatalog(labs.Builtin(), manifests.FS())
	if err != nil {
		b.Fatal(err)
	}
	r := &runner.Runner{Clusters: manager(b), Manifests: manifests.FS(), Parallel: 1}
	for i := 0; i < b.N; i++ {
		report := r.Run(context.Background(), cat.Labs)
		for _, l := range report.Labs {
			b.ReportMetric(l.Duration.Seconds(), fmt.Sprintf("s/%s", l.Lab))
			if l.Failed() {
				b.Errorf("lab %s failed: %s", l.Lab, l.Error)
			}
		}
	}
}
