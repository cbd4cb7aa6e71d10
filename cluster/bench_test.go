//go:build e2e

package cluster_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkClusterCreate reports the time to a Ready learner cluster with the node
// image present (s/create), and the time to delete it (s/delete).
func BenchmarkClusterCreate(b *testing.B) {
	set := testImages(b)
	m := newManager(b, set)
	ctx := context.Background()
	var create, del time.Duration
	for i := 0; i < b.N; i++ {
		name := randomName("bench")
		start := time.Now()
		if _, err := m.Create(ctx, name); err != nil {
			b.Fatal(err)
		}
		create += time.Since(start)
		start = time.Now()
		if err := m.Delete(ctx, name); err != nil {
			b.Fatal(err)
		}
		del += time.Since(start)
	}
	b.ReportMetric(create.Seconds()/float64(b.N), "s/create")
	b.ReportMetric(del.Seconds()/float64(b.N), "s/delete")
}

// BenchmarkClusterIdle reports an idle cluster's memory (MiB/cluster) and CPU
// (%cpu/cluster, of one core) a minute after it became Ready.
func BenchmarkClusterIdle(b *testing.B) {
	set := testImages(b)
	m := newManager(b, set)
	ctx := context.Background()
	name := randomName("idle")
	c, err := m.Create(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Delete(ctx, name)
	time.Sleep(time.Minute)
	b.ResetTimer()
	var mem, cpu float64
	for i := 0; i < b.N; i++ {
		out, err := exec.Command("docker", "stats", "--no-stream", "--format", "{{.MemUsage}};{{.CPUPerc}}", c.Name+"-control-plane").Output()
		if err != nil {
			b.Fatal(err)
		}
		memPart, cpuPart, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
		mem += parseMiB(strings.TrimSpace(strings.Split(memPart, "/")[0]))
		v, _ := strconv.ParseFloat(strings.TrimSuffix(cpuPart, "%"), 64)
		cpu += v
	}
	b.ReportMetric(mem/float64(b.N), "MiB/cluster")
	b.ReportMetric(cpu/float64(b.N), "%cpu/cluster")
}

func parseMiB(s string) float64 {
	for _, u := range []struct {
		suffix string
		mul    float64
	}{{"GiB", 1024}, {"MiB", 1}, {"KiB", 1.0 / 1024}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f * u.mul
		}
	}
	return 0
}

// BenchmarkNetworkPerCluster measures what a Docker network of its own adds to a
// cluster's create and delete.
func BenchmarkNetworkPerCluster(b *testing.B) {
	for i := 0; i < b.N; i++ {
		name := randomName("kindlab-netbench")
		if out, err := exec.Command("docker", "network", "create", "--driver=bridge", "-o", "com.docker.network.bridge.enable_ip_masquerade=true", name).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		if out, err := exec.Command("docker", "network", "rm", name).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/network")
}
