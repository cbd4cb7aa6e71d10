//go:build e2e

package cluster_test

import (
	"context"
	"os"
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

// BenchmarkClusterIdle reports an idle cluster's memory (MiB/cluster, as
// docker stats counts it) and CPU (%cpu/cluster, of one core, averaged over 30 s
// from the node's cgroup) a minute after it became Ready.
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
	node := c.Name + "-control-plane"
	time.Sleep(time.Minute)
	b.ResetTimer()
	var mem, cpu float64
	for i := 0; i < b.N; i++ {
		before, start := cpuUsage(b, node), time.Now()
		time.Sleep(30 * time.Second)
		cpu += 100 * float64(cpuUsage(b, node)-before) / float64(time.Since(start).Nanoseconds())
		out, err := exec.Command("docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", node).Output()
		if err != nil {
			b.Fatal(err)
		}
		mem += parseMiB(strings.TrimSpace(strings.Split(string(out), "/")[0]))
	}
	b.ReportMetric(mem/float64(b.N), "MiB/cluster")
	b.ReportMetric(cpu/float64(b.N), "%cpu/cluster")
}

// cpuUsage reads the CPU time a container has used, in nanoseconds, from its
// cgroup (v2, or v1's cpuacct, with either cgroup driver).
func cpuUsage(b *testing.B, container string) int64 {
	b.Helper()
	id, err := exec.Command("docker", "inspect", "--format", "{{.Id}}", container).Output()
	if err != nil {
		b.Fatal(err)
	}
	full := strings.TrimSpace(string(id))
	for _, dir := range []string{"/sys/fs/cgroup/cpu,cpuacct/docker/" + full, "/sys/fs/cgroup/cpuacct/docker/" + full} {
		if data, err := os.ReadFile(dir + "/cpuacct.usage"); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			return n
		}
	}
	for _, dir := range []string{"/sys/fs/cgroup/docker/" + full, "/sys/fs/cgroup/system.slice/docker-" + full + ".scope"} {
		if data, err := os.ReadFile(dir + "/cpu.stat"); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return n * 1000
				}
			}
		}
	}
	b.Fatalf("no cgroup CPU accounting found for container %s", container)
	return 0
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
